"""Procedural rooms: determinism, seats and tables, non-overlapping furniture."""

from __future__ import annotations

import numpy as np

from egohmr.synth.rooms import generate_room


def test_rooms_are_deterministic_and_furnished():
    for seed in range(4):
        a = generate_room("r", np.random.default_rng(seed))
        b = generate_room("r", np.random.default_rng(seed))
        va, fa, ca = a.mesh()
        vb, fb, cb = b.mesh()
        np.testing.assert_array_equal(va, vb)
        np.testing.assert_array_equal(fa, fb)
        assert a.seats, "every room has a seat"
        assert fa.max() < len(va) and ca.shape == va.shape
        W, H, D = a.size
        assert 5.0 <= W <= 8.0 and 5.0 <= D <= 8.0
        # Furniture inside the room and above the floor.
        assert va[:, 0].min() >= -1e-9 and va[:, 0].max() <= W + 1e-9 and va[:, 1].min() >= -1e-9
        for seat in a.seats:
            assert 0.35 < seat.top_center[1] < 0.6


def test_seat_tops_are_box_tops():
    room = generate_room("r", np.random.default_rng(7))
    tops = {round(b.center[1] + b.size[1] / 2, 6) for b in room.boxes if b.kind == "seat"}
    for seat in room.seats:
        assert round(seat.top_center[1], 6) in tops
