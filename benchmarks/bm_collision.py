"""Benchmark: fast differentiable penetration score vs the exact winding-number test.

For posed open bodies (rest, sitting, random poses) it measures

* agreement of inside/outside with the exact test on points within 5 cm of the surface (inside and outside);
* agreement on scene-like cubes: 20,000 points in a 2 x 2 x 2 m box around the body (a floor, a seat under the
  pelvis and uniform clutter), or the stage-2 cubes of a dataset with `--cubes DIR` (.npy files, PV or any frame,
  bodies placed at the cube centre);
* the share of cube points the conservative grid cull leaves for the nearest-vertex search;
* milliseconds per body for 20,000 points: the fast score batched over bodies (forward, and forward + backward
  through the vertices) and the exact test; their ratio.

Not part of the test run::

    python benchmarks/bm_collision.py [--body open|open-lowres|PATH] [--bodies 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from egohmr.body import load_body_model
from egohmr.collision import SurfacePenetration, inside_mask, signed_distance
from egohmr.collision.grid import certainly_outside
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
    print(f"body {args.body}: V={body.num_vertices} F={len(faces)}; {args.bodies} bodies; {args.threads} threads")

    near = np.stack([near_surface_points(v, faces, args.points, rng) for v in verts.numpy()])
    if args.cubes is not None:
        files = sorted(args.cubes.rglob("*.npy"))[: args.bodies]
        if not files:
            raise SystemExit(f"--cubes {args.cubes}: no .npy files")
        cubes = np.stack([np.load(f)[: args.points] - np.load(f)[: args.points].mean(0) for f in files])
        verts, near = verts[: len(cubes)], near[: len(cubes)]
    else:
        cubes = np.stack([scene_cube(v, args.points, rng) for v in verts.numpy()])

    for name, points in (("within 5 cm of the surface", near), ("scene cube", cubes)):
        pts = torch.from_numpy(points).float()
        sd = signed_distance(pts, verts, scorer.index)
        fast_inside = (sd < 0).numpy()
        exact_inside = np.stack([inside_mask(p, v, faces) for p, v in zip(points, verts.numpy(), strict=True)])
        agree = (fast_inside == exact_inside).mean()
        print(f"{name:28s}: agreement {100 * agree:.3f}%  inside {exact_inside.mean():.3%} of points")

    pts = torch.from_numpy(cubes).float()
    kept = (~certainly_outside(pts, verts, body.faces)).float().mean()
    print(f"grid cull keeps {100 * kept:.1f}% of the cube points for the nearest-vertex search")
    t_fast = timed(lambda: scorer(pts, verts), args.repeats) / len(verts)
    v_grad = verts.clone().requires_grad_(True)
    t_grad = timed(lambda: scorer(pts, v_grad).sum().backward(), args.repeats) / len(verts)
    t_exact = timed(lambda: [inside_mask(p, v, faces) for p, v in zip(cubes, verts.numpy(), strict=True)], 1)
    t_exact /= len(verts)
    print(f"ms per body, {args.points} cube points: fast {1e3 * t_fast:.1f}, fast+backward {1e3 * t_grad:.1f}, "
          f"exact {1e3 * t_exact:.1f}; exact/fast = {t_exact / t_fast:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
