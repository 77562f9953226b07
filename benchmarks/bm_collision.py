"""Benchmark: fast differentiable penetration score vs the exact winding-number test.

For three point sets it prints the agreement of inside/outside with the exact test (libigl's winding number) and
milliseconds per body, 20,000 points per body, for the fast score batched over bodies (forward, and forward +
backward through the vertices) and for the exact test, and their ratio:

* scene cubes around posed open bodies (rest, sitting, random poses): a floor, a slab through the pelvis and uniform
  clutter in a 2 m box, or the stage-2 cubes of a dataset with `--cubes DIR` (.npy files, bodies at the cube centre);
* a near-surface shell: points offset by up to 5 cm along the normal from the surface of the same bodies;
* folded poses (`egohmr.collision.poses`: deep squat, crouch, arms crossed, knees to chest, hands on the belly, one
  leg raised), near-surface shell: where the body intersects itself.

As a compiled anchor it also times libigl doing the score's two searches without gradients, body by body: its
hierarchical fast winding number (the sign) and its AABB-tree closest point (the magnitude).

It also prints the share of cube points the conservative grid cull leaves. Not part of the test run::

    python benchmarks/bm_collision.py [--body open|open-lowres|PATH] [--bodies 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import igl
import numpy as np
import torch

from egohmr.body import load_body_model
from egohmr.collision import SurfacePenetration, inside_mask, signed_distance
from egohmr.collision.grid import certainly_outside
from egohmr.collision.poses import folded_bodies
from egohmr.geometry import axis_angle_to_rotmat


def posed_bodies(body, num: int, generator: torch.Generator) -> torch.Tensor:
    """(num, V, 3) float32 vertices: rest pose, a sitting pose, then random moderate poses; pelvis at the origin."""
    aa = torch.randn(num, 24, 3, generator=generator) * 0.35
    aa[:, 0] = 0.0
    aa[0] = 0.0
    if num > 1:  # sitting: hips flexed, knees bent
        aa[1] = 0.0
        aa[1, 1, 0] = aa[1, 2, 0] = -1.5
        aa[1, 4, 0] = aa[1, 5, 0] = 1.5
    rot = axis_angle_to_rotmat(aa)
    betas = torch.randn(num, 10, generator=generator) * 0.8
    out = body(betas, rot[:, 0], rot[:, 1:])
    return (out.vertices - out.joints[:, :1]).detach()


def near_surface_points(vertices: np.ndarray, faces: np.ndarray, num: int, rng: np.random.Generator) -> np.ndarray:
    """(num, 3) points offset by U(-5, 5) cm along the normal from random surface points."""
    corners = vertices[faces]  # (F, 3, 3)
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    area = np.linalg.norm(normals, axis=1)
    face = rng.choice(len(faces), size=num, p=area / area.sum())
    u, v = rng.random(num), rng.random(num)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    tri = corners[face]
    surface = tri[:, 0] + u[:, None] * (tri[:, 1] - tri[:, 0]) + v[:, None] * (tri[:, 2] - tri[:, 0])
    normal = normals[face] / area[face, None]
    return surface + rng.uniform(-0.05, 0.05, (num, 1)) * normal


def scene_cube(vertices: np.ndarray, num: int, rng: np.random.Generator) -> np.ndarray:
    """(num, 3) points of a 2 m cube around the body: floor under the feet, a seat under the pelvis, clutter."""
    floor_y = vertices[:, 1].min()
    n_floor, n_seat = num // 2, num // 4
    floor = np.c_[rng.uniform(-1, 1, n_floor), np.full(n_floor, floor_y), rng.uniform(-1, 1, n_floor)]
    seat = np.c_[rng.uniform(-0.25, 0.25, n_seat), rng.uniform(-0.1, 0.0, n_seat), rng.uniform(-0.3, 0.2, n_seat)]
    clutter = rng.uniform(-1, 1, (num - n_floor - n_seat, 3)) + np.array([0, floor_y + 1, 0])
    return np.concatenate([floor, seat, clutter])


def timed(fn, repeats: int) -> float:
    """Median seconds of `fn()`."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def exact_inside(points: np.ndarray, vertices: torch.Tensor, faces: np.ndarray) -> np.ndarray:
    """(B, P) bool: the exact test, body by body."""
    return np.stack([inside_mask(p, v, faces) for p, v in zip(points, vertices.numpy(), strict=True)])


def libigl_searches(points: np.ndarray, vertices: torch.Tensor, faces: np.ndarray) -> None:
    """libigl's fast winding number and closest point of every point, body by body (C++, no gradient)."""
    for p, v in zip(points.astype(np.float64), vertices.double().numpy(), strict=True):
        igl.fast_winding_number(v, faces, p)
        igl.point_mesh_squared_distance(p, v, faces)


def report(name: str, points: np.ndarray, vertices: torch.Tensor, faces: np.ndarray, scorer, repeats: int) -> None:
    """Print agreement with the exact test and ms per body (fast forward, fast + backward, libigl's two searches,
    exact) on one point set."""
    pts = torch.from_numpy(points).float()
    fast = (signed_distance(pts, vertices, scorer.index) < 0).numpy()
    start = time.perf_counter()
    exact = exact_inside(points, vertices, faces)
    t_exact = (time.perf_counter() - start) / len(vertices)
    t_fast = timed(lambda: scorer(pts, vertices), repeats) / len(vertices)
    v_grad = vertices.clone().requires_grad_(True)
    t_grad = timed(lambda: scorer(pts, v_grad).sum().backward(), repeats) / len(vertices)
    t_igl = timed(lambda: libigl_searches(points, vertices, faces), 1) / len(vertices)
    print(f"{name:27s}: agreement {100 * (fast == exact).mean():7.3f}% (inside {100 * exact.mean():4.1f}%); ms/body: "
          f"fast {1e3 * t_fast:6.1f}, fast+backward {1e3 * t_grad:6.1f}, libigl searches {1e3 * t_igl:6.1f}, "
          f"exact {1e3 * t_exact:6.1f}; exact/fast+backward {t_exact / t_grad:5.1f}x, "
          f"libigl/fast+backward {t_igl / t_grad:4.1f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--body", default="open")
    parser.add_argument("--bodies", type=int, default=8)
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cubes", type=Path, default=None, help="folder of stage-2 cube .npy files (optional)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    body = load_body_model(args.body, "neutral")
    faces = body.faces.numpy()
    verts = posed_bodies(body, args.bodies, torch.Generator().manual_seed(0))
    scorer = SurfacePenetration(body.faces, body.num_vertices)
    print(f"body {args.body}: V={body.num_vertices} F={len(faces)}; {args.bodies} bodies; {args.threads} threads; "
          f"{args.points} points per body")  # fmt: skip

    if args.cubes is not None:
        files = sorted(args.cubes.rglob("*.npy"))[: args.bodies]
        if not files:
            raise SystemExit(f"--cubes {args.cubes}: no .npy files")
        cubes = np.stack([np.load(f)[: args.points] - np.load(f)[: args.points].mean(0) for f in files])
        verts = verts[: len(cubes)]
    else:
        cubes = np.stack([scene_cube(v, args.points, rng) for v in verts.numpy()])
    near = np.stack([near_surface_points(v, faces, args.points, rng) for v in verts.numpy()])
    _, folded = folded_bodies(body)
    folded_near = np.stack([near_surface_points(v, faces, args.points, rng) for v in folded.numpy()])

    kept = (~certainly_outside(torch.from_numpy(cubes).float(), verts, scorer.index.edges)).float().mean()
    print(f"grid cull keeps {100 * kept:.1f}% of the cube points")
    report("scene cubes", cubes, verts, faces, scorer, args.repeats)
    report("within 5 cm of the surface", near, verts, faces, scorer, args.repeats)
    report("folded poses, within 5 cm", folded_near, folded, faces, scorer, args.repeats)


if __name__ == "__main__":
    main()
