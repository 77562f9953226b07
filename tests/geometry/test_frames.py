"""Rigid 4x4 transforms: apply, invert, compose and the HoloLens -> OpenCV flip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egohmr.geometry.frames import (
    HOLO_TO_OPENCV,
    apply_transform,
    compose,
    holo_to_opencv,
    invert_rigid,
    make_rigid,
)
from egohmr.geometry.rotations import axis_angle_to_rotmat


def _random_rigid(gen: torch.Generator, *batch: int) -> torch.Tensor:
    R = axis_angle_to_rotmat(torch.randn(*batch, 3, generator=gen, dtype=torch.float64))
    return make_rigid(R, torch.randn(*batch, 3, generator=gen, dtype=torch.float64))


def test_apply_invert_compose_round_trip():
    gen = torch.Generator().manual_seed(0)
    a2b, b2c = _random_rigid(gen, 4), _random_rigid(gen, 4)
    pts_a = torch.randn(4, 10, 3, generator=gen, dtype=torch.float64)
    pts_b = apply_transform(a2b, pts_a)
    torch.testing.assert_close(apply_transform(invert_rigid(a2b), pts_b), pts_a)
    torch.testing.assert_close(apply_transform(compose(b2c, a2b), pts_a), apply_transform(b2c, pts_b))
    torch.testing.assert_close(compose(a2b, invert_rigid(a2b)), torch.eye(4, dtype=torch.float64).expand(4, 4, 4))
    torch.testing.assert_close(invert_rigid(a2b), torch.linalg.inv(a2b))


def test_apply_matches_homogeneous_column_vectors():
    gen = torch.Generator().manual_seed(1)
    T = _random_rigid(gen)
    p = torch.randn(3, generator=gen, dtype=torch.float64)
    expected = (T @ torch.cat([p, torch.ones(1, dtype=torch.float64)]))[:3]
    torch.testing.assert_close(apply_transform(T, p[None])[0], expected)


def test_apply_numpy_matches_torch_and_broadcasts():
    gen = torch.Generator().manual_seed(2)
    T = _random_rigid(gen, 3)  # (3, 4, 4)
    pts = torch.randn(3, 5, 3, generator=gen, dtype=torch.float64)
    out = apply_transform(T.numpy(), pts.numpy())
    assert isinstance(out, np.ndarray) and out.shape == (3, 5, 3)
    np.testing.assert_allclose(out, apply_transform(T, pts).numpy(), rtol=0, atol=1e-12)
    one = apply_transform(T[1].numpy(), pts[1].numpy())  # a single (4, 4) transform
    np.testing.assert_array_equal(one, pts[1].numpy() @ T[1, :3, :3].numpy().T + T[1, :3, 3].numpy())
    with pytest.raises(ValueError, match="points"):
        apply_transform(np.eye(4), np.zeros(3))


def test_holo_to_opencv_flip():
    flip = holo_to_opencv(torch.float64)
    torch.testing.assert_close(flip, torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64)))
    assert torch.tensor(HOLO_TO_OPENCV).shape == (4, 4)
    # OpenGL "forward" (-z) and "up" (+y) become OpenCV forward (+z) and up (-y).
    pts = torch.tensor([[0.0, 1.0, -2.0]])
    torch.testing.assert_close(apply_transform(holo_to_opencv(), pts), torch.tensor([[0.0, -1.0, 2.0]]))


def test_frame_errors():
    with pytest.raises(ValueError, match="T"):
        apply_transform(torch.eye(3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="points"):
        apply_transform(torch.eye(4), torch.zeros(3))
    with pytest.raises(ValueError, match="at least one"):
        compose()
