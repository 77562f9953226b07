"""Benchmark: the collision inside tests, the contact query and per-batch metric statistics, in ms.

Inside tests are timed for one closed body-like mesh (a warped icosphere, 20,480 faces) against 20,000 points, in two
layouts: a 2 x 2 x 2 m scene cube around the body (as the stage-2 cubes) and all points inside the body's bounding box
(worst case). Not part of the test run::

    python benchmarks/bm_metrics.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np

from egohmr.evaluate.aggregate import compute_frame_stats
from egohmr.evaluate.inside import INSIDE_TESTS, get_inside_test
from egohmr.evaluate.metrics import min_body_scene_distance


def body_like_mesh() -> tuple[np.ndarray, np.ndarray]:
    """Closed warped ellipsoid, ~0.5 x 1.7 x 0.3 m, 10,242 vertices and 20,480 faces."""
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=5)
    v = np.asarray(sphere.vertices) * np.array([0.25, 0.85, 0.15])
    v[:, 0] += 0.1 * np.sin(3.0 * v[:, 1])  # bend, so the mesh is not convex
    return v, np.asarray(sphere.faces, dtype=np.int64)


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times))


def unbounded_min_distance(points: np.ndarray, bodies: np.ndarray) -> np.ndarray:
    """The plain reference: one unbounded nearest-point query of every vertex."""
    from scipy.spatial import cKDTree

    tree = cKDTree(np.unique(points, axis=0))
    return np.array([tree.query(b, k=1)[0].min() for b in bodies])


def contact_by_cube(bodies: np.ndarray, rng: np.random.Generator, repeats: int) -> None:
    """Frames per second of the contact distance (5 bodies a frame) on floor-only, furnished and empty cubes."""
    floor = np.column_stack([rng.uniform(-1, 1, 20000), np.full(20000, 1.2), rng.uniform(-1, 1, 20000)])  # 35 cm below
    clutter = rng.uniform(-1.0, 1.0, size=(10000, 3))
    cubes = {"floor only": floor, "furnished": np.concatenate([floor[:10000], clutter]), "empty": np.zeros((0, 3))}
    print(f"{'contact distance, 5 bodies':<30}{'ms/frame':>10}{'frames/s':>10}{'plain query ms':>16}{'speed-up':>10}")
    for label, points in cubes.items():
        ms = median_ms(lambda p=points: min_body_scene_distance(p, bodies), repeats)
        if len(points):
            assert np.allclose(min_body_scene_distance(points, bodies), unbounded_min_distance(points, bodies))
            ref = median_ms(lambda p=points: unbounded_min_distance(p, bodies), max(1, repeats // 2))
            extra = f"{ref:>16.1f}{ref / ms:>9.1f}x"
        else:
            extra = f"{'-':>16}{'-':>10}"
        print(f"{label:<30}{ms:>10.1f}{1000.0 / ms:>10.1f}{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    vertices, faces = body_like_mesh()
    low, high = vertices.min(0), vertices.max(0)
    layouts = {
        "2 m cube": rng.uniform(-1.0, 1.0, size=(20000, 3)),
        "bbox only": rng.uniform(low, high, size=(20000, 3)),
    }
    print(f"mesh: {len(vertices)} vertices, {len(faces)} faces; 20,000 points; device: cpu")
    print(f"{'inside test':<22}{'points':<12}{'ms/body':>10}{'inside':>9}")
    for name in INSIDE_TESTS:
        if name == "trimesh" and importlib.util.find_spec("embreex") is None:
            print(f"{name:<22}(skipped: needs embreex or rtree)")
            continue
        test = get_inside_test(name)
        for label, points in layouts.items():
            ms = median_ms(lambda t=test, p=points: t(p, vertices, faces), args.repeats)
            print(f"{name:<22}{label:<12}{ms:>10.1f}{int(test(points, vertices, faces).sum()):>9}")
    bodies = np.stack([vertices + 0.01 * i for i in range(5)])  # (5, V, 3)
    contact_by_cube(bodies, rng, args.repeats)
    for batch in (1, 16):
        pj, pv = rng.normal(size=(batch, 5, 24, 3)), rng.normal(size=(batch, 5, 6890, 3))
        gj, gv = rng.normal(size=(batch, 24, 3)), rng.normal(size=(batch, 6890, 3))
        jv, vv = rng.random((batch, 24)) > 0.3, rng.random((batch, 6890)) > 0.3
        arrays = (pj, pv, gj, gv, jv, vv)
        ms = median_ms(lambda a=arrays: compute_frame_stats(*a), args.repeats)
        print(
            f"compute_frame_stats, {batch} frames x 5 samples x 6,890 vertices: {ms:.1f} ms ({ms / batch:.1f} ms/frame)"
        )


if __name__ == "__main__":
    main()
