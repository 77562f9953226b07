"""Small synthetic frames for the output tests: a box "body" in front of a floor and a wall (no model files)."""

from __future__ import annotations

import numpy as np

from egohmr.outputs.frame_record import FrameRecord

WIDTH, HEIGHT = 320, 180
INTRINSICS_PX = (200.0, 200.0, 159.5, 89.5)


def box_mesh(center, size) -> tuple[np.ndarray, np.ndarray]:
    """A closed box: (8, 3) vertices and (12, 3) faces."""
    corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    v = corners * np.asarray(size, float) + np.asarray(center, float)
    f = [(0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1), (2, 3, 7), (2, 7, 6), (0, 2, 6)]
    f += [(0, 6, 4), (1, 5, 7), (1, 7, 3)]
    return v, np.array(f)


def box_body(center) -> tuple[np.ndarray, np.ndarray]:
    """A 1.7 m tall box figure (head, torso, two legs) centred at `center`, PV frame (y down): (32, 3), (48, 3)."""
    parts = [
        ((0, -0.72, 0), (0.22, 0.25, 0.22)),
        ((0, -0.25, 0), (0.45, 0.7, 0.25)),
        ((-0.12, 0.5, 0), (0.16, 0.8, 0.18)),
        ((0.12, 0.5, 0), (0.16, 0.8, 0.18)),
    ]
    verts, faces = [], []
    for i, (c, s) in enumerate(parts):
        v, f = box_mesh(np.asarray(c) + np.asarray(center), s)
        verts.append(v)
        faces.append(f + 8 * i)
    return np.concatenate(verts), np.concatenate(faces)


def scene_points(rng: np.random.Generator, n: int = 3000) -> np.ndarray:
    """Points on a floor (y = 0.95) and a wall (z = 5), PV frame: (n, 3)."""
    m = n // 2
    floor = np.stack([rng.uniform(-2, 2, m), np.full(m, 0.95), rng.uniform(1, 5, m)], axis=1)
    wall = np.stack([rng.uniform(-2, 2, n - m), rng.uniform(-1.5, 0.95, n - m), np.full(n - m, 5.0)], axis=1)
    return np.concatenate([floor, wall])


def make_record(
    num_samples: int = 3, with_gt: bool = True, center=(0.4, 0.1, 3.0), seed: int = 0, name: str = "rec/PV/frame_01.jpg"
) -> FrameRecord:
    """A synthetic frame: noisy grey image, GT box body at `center`, samples around it, the box around all."""
    rng = np.random.default_rng(seed)
    image = rng.integers(90, 140, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
    gt, faces = box_body(center)
    offsets = [np.array([0.2, 0.0, 0.0])] + [rng.normal(0, 0.04, 3) for _ in range(num_samples - 1)]
    preds = np.stack([gt + o for o in offsets])  # the mode sample 20 cm to the right of the GT
    fx, fy, cx, cy = INTRINSICS_PX
    every = np.concatenate([gt[None], preds]).reshape(-1, 3)
    u = fx * every[:, 0] / every[:, 2] + cx
    v = fy * every[:, 1] / every[:, 2] + cy
    bbox = (u.min() - 5, v.min() - 5, u.max() + 5, v.max() + 5)
    return FrameRecord(
        name=name,
        intrinsics_px=INTRINSICS_PX,
        bbox_px=bbox,
        scene_points_pv=scene_points(rng),
        pred_vertices_pv=preds,
        faces=faces,
        image=image,
        gt_vertices_pv=gt if with_gt else None,
        metrics={"mpjpe_mm": 42.5, "pa_mpjpe_mm": 30.25, "collision_ratio": float("nan")} if with_gt else None,
        joint_visible=np.arange(24) % 3 != 0,
    )
