"""Input checks and preprocessing of one image for `EgoHMRPipeline` (numpy, no model code).

- `check_*`: wrong inputs raise ValueError naming the argument and the value.
- `square_box`: the dataset's crop box from a body box (centre, side ``max(w, h) * 1.2``).
- `crop_image`: the normalised (3, S, S) crop.
- `front_points` / `stage2_cube`: scene points of stage 1 (in front of the camera) and the stage-2 cube, drawn as
  ``egohmr preprocess`` draws them.
- `box_visibility`: joint visibility without keypoints.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from egohmr.constants import BBOX_ENLARGE
from egohmr.data.crop import affine_invert, crop_from_full_map, normalize_crop, warp_image
from egohmr.geometry.frames import apply_transform

__all__ = [
    "FLIP_Y_UP",
    "box_visibility",
    "check_bbox",
    "check_image",
    "check_intrinsics",
    "check_keypoints",
    "check_points",
    "check_world2pv",
    "crop_image",
    "front_points",
    "seed_from_generator",
    "square_box",
    "stage2_cube",
]

FLIP_Y_UP = np.diag([1.0, -1.0, -1.0, 1.0])
"""PV frame -> a y-up frame when no scene frame is known (180 degrees about x: the camera's -y is taken as up)."""

MAX_FOCAL_FACTOR = 20.0
"""Focal lengths above this times the longer image side (field of view below ~3 degrees) are rejected."""
MIN_FOCAL_FACTOR = 0.05
"""Focal lengths below this times the longer image side (field of view above ~170 degrees) are rejected."""


def check_image(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB, else ValueError."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"image must be an (H, W, 3) uint8 RGB array, got shape {img.shape} dtype {img.dtype}")
    if img.shape[0] < 8 or img.shape[1] < 8:
        raise ValueError(f"image is too small: {img.shape[1]}x{img.shape[0]} px")
    return img


def check_intrinsics(intrinsics: Sequence[float], width: int, height: int) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) px: finite, positive focal lengths of a plausible field of view, principal point in the image.

    Raises:
        ValueError: wrong length, NaN, non-positive or absurd values.
    """
    arr = np.asarray(intrinsics, dtype=np.float64).reshape(-1)
    if arr.shape != (4,):
        raise ValueError(f"intrinsics must be 4 numbers (fx, fy, cx, cy) in px, got {list(np.asarray(intrinsics))}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"intrinsics contain NaN or inf: {arr.tolist()}")
    fx, fy, cx, cy = (float(v) for v in arr)
    side = max(width, height)
    for name, f in (("fx", fx), ("fy", fy)):
        if f <= 0:
            raise ValueError(f"intrinsics: {name} must be > 0 px, got {f}")
        if not MIN_FOCAL_FACTOR * side <= f <= MAX_FOCAL_FACTOR * side:
            raise ValueError(
                f"intrinsics: {name} = {f} px is implausible for a {width}x{height} image (expected "
                f"{MIN_FOCAL_FACTOR * side:.0f}..{MAX_FOCAL_FACTOR * side:.0f} px); are the values in pixels?"
            )
    if not (0 <= cx <= width and 0 <= cy <= height):
        raise ValueError(f"intrinsics: principal point ({cx}, {cy}) px lies outside the {width}x{height} image")
    return fx, fy, cx, cy


def check_bbox(bbox_px: Sequence[float], width: int, height: int) -> tuple[float, float, float, float]:
    """(x1, y1, x2, y2) px, finite, x1 < x2, y1 < y2, overlapping the image.

    Raises:
        ValueError: wrong length, NaN, empty box or a box entirely outside the image.
    """
    arr = np.asarray(bbox_px, dtype=np.float64).reshape(-1)
    if arr.shape != (4,):
        raise ValueError(f"bbox_px must be 4 numbers (x1, y1, x2, y2), got {list(np.asarray(bbox_px))}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"bbox_px contains NaN or inf: {arr.tolist()}")
    x1, y1, x2, y2 = (float(v) for v in arr)
    if not (x2 > x1 and y2 > y1):
        raise ValueError(f"bbox_px ({x1}, {y1}, {x2}, {y2}) is empty: need x1 < x2 and y1 < y2")
    if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
        raise ValueError(f"bbox_px ({x1}, {y1}, {x2}, {y2}) lies outside the {width}x{height} image")
    return x1, y1, x2, y2


def check_points(points: np.ndarray, name: str = "scene_points") -> np.ndarray:
    """(P, 3) finite float64 with P >= 1, else ValueError."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"{name} must have shape (P, 3), got {pts.shape}")
    if pts.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 points)")
    bad = ~np.all(np.isfinite(pts), axis=1)
    if bad.any():
        raise ValueError(f"{name}: {int(bad.sum())} of {pts.shape[0]} points contain NaN or inf")
    return pts


def check_world2pv(world2pv: np.ndarray) -> np.ndarray:
    """(4, 4) finite rigid transform (orthonormal rotation, last row 0 0 0 1), else ValueError."""
    T = np.asarray(world2pv, dtype=np.float64)
    if T.shape != (4, 4):
        raise ValueError(f"world2pv must be a 4x4 matrix, got shape {T.shape}")
    if not np.all(np.isfinite(T)):
        raise ValueError("world2pv contains NaN or inf")
    R = T[:3, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-3) or not np.allclose(T[3], [0, 0, 0, 1], atol=1e-6):
        raise ValueError("world2pv must be a rigid transform (orthonormal rotation, last row 0 0 0 1), in metres")
    return T


def check_keypoints(keypoints_op25: np.ndarray) -> np.ndarray:
    """(25, 3) finite OpenPose BODY_25 (x px, y px, confidence), else ValueError."""
    kp = np.asarray(keypoints_op25, dtype=np.float64)
    if kp.shape != (25, 3):
        raise ValueError(f"keypoints_op25 must have shape (25, 3) (OpenPose BODY_25 x, y, conf), got {kp.shape}")
    if not np.all(np.isfinite(kp)):
        raise ValueError("keypoints_op25 contains NaN or inf")
    return kp


def square_box(bbox_px: Sequence[float], enlarge: float = BBOX_ENLARGE) -> tuple[np.ndarray, float]:
    """The crop box of a body box as the dataset builds it: centre of the box, side ``max(w, h) * enlarge``.

    Returns:
        (bbox_center_px (2,) float64, bbox_size_px float).
    """
    x1, y1, x2, y2 = (float(v) for v in bbox_px)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2]), max(x2 - x1, y2 - y1) * float(enlarge)


def crop_image(image: np.ndarray, center_px: np.ndarray, size_px: float, crop_size_px: int) -> np.ndarray:
    """(3, S, S) float32 ImageNet-normalised crop of the square box (bilinear, zeros outside the image)."""
    crop_to_src = affine_invert(crop_from_full_map(center_px, size_px, crop_size_px))
    return normalize_crop(warp_image(image, crop_to_src, crop_size_px))


def front_points(points_pv: np.ndarray, num: int, rng: np.random.Generator) -> np.ndarray:
    """Stage-1 scene input: the points in front of the camera (z > 0), down-sampled to `num` as ``egohmr preprocess
    scene-s1`` does (`egohmr.preprocess.sampling.front_downsample`: every k-th point in order; drawn with replacement
    from `rng` when fewer than `num` are in front).

    Raises:
        ValueError: no point in front of the camera.
    """
    from egohmr.preprocess.sampling import front_downsample

    if not np.any(points_pv[:, 2] > 0):
        raise ValueError(
            f"scene: none of the {points_pv.shape[0]} points is in front of the camera (z > 0 in the PV frame); "
            "is the scene in the PV camera frame (OpenCV axes), or is world2pv missing?"
        )
    return front_downsample(points_pv, points_pv[:, 2], num, "scene", allow_replacement=True, rng=rng)


def stage2_cube(
    points_pv: np.ndarray,
    transl_pv: np.ndarray,
    num_points: int,
    rng: np.random.Generator,
    world2pv: np.ndarray | None = None,
    cube_size_m: float = 2.0,
) -> np.ndarray:
    """The stage-2 scene crop: the official test-time cube (`egohmr.preprocess.scene_s2.crop_cube`: random yaw about
    the vertical axis, ``cube_size_m`` square around the stage-1 translation, height ``cube_size_m`` from the lowest
    point) with `num_points` points (repeated at random when fewer are inside).

    Args:
        points_pv: (P, 3) float64, metres, PV frame.
        transl_pv: (3,) stage-1 translation, metres, PV frame.
        num_points: points per cube (the model's ``data.num_scene_points_file``).
        rng: draws the yaw and the repeats.
        world2pv: (4, 4) scene -> PV transform: the scene frame's y axis is the vertical (EgoBody meshes are y-up).
            None: the PV camera's -y axis is taken as up (a roughly level camera).
        cube_size_m: cube side.

    Returns:
        (num_points, 3) float64, metres, PV frame.

    Raises:
        ValueError: no scene point inside the cube around the body (the message gives the counts and positions).
    """
    from egohmr.preprocess.scene_s2 import crop_cube

    pv2up = np.linalg.inv(world2pv) if world2pv is not None else FLIP_Y_UP
    pts_up = apply_transform(pv2up, points_pv)
    center_up = apply_transform(pv2up, np.asarray(transl_pv, dtype=np.float64)[None])[0]
    try:
        cube_up = crop_cube(pts_up, center_up, rng, num_points, "stage-2 scene crop", cube_size_m, None, None, True)
    except ValueError:
        d = np.hypot(pts_up[:, 0] - center_up[0], pts_up[:, 2] - center_up[2])
        t = np.round(np.asarray(transl_pv, dtype=np.float64), 2).tolist()
        raise ValueError(
            f"scene: no point within the {cube_size_m:g} m cube around the predicted body at {t} m (PV frame); the "
            f"scene has {points_pv.shape[0]} points, the nearest {float(d.min()):.2f} m away horizontally. Is the "
            "scene in metres and in the right frame (PV camera, or world with world2pv)?"
        ) from None
    return apply_transform(np.linalg.inv(pv2up), cube_up)


def box_visibility(
    joints_pv: np.ndarray, intrinsics: Sequence[float], bbox_px: Sequence[float], width: int, height: int
) -> np.ndarray:
    """Joint visibility without keypoints: a joint is visible when it is in front of the camera and projects inside
    both the body box and the image.

    Args:
        joints_pv: (24, 3) metres, PV frame (stage-1 mode body).
        intrinsics: (fx, fy, cx, cy) px.
        bbox_px: (x1, y1, x2, y2) px.
        width, height: image size px.

    Returns:
        (24,) bool.
    """
    fx, fy, cx, cy = intrinsics
    z = joints_pv[:, 2]
    zs = np.where(z > 1e-6, z, 1.0)
    u = fx * joints_pv[:, 0] / zs + cx
    v = fy * joints_pv[:, 1] / zs + cy
    x1, y1, x2, y2 = bbox_px
    lo_u, hi_u = max(x1, 0.0), min(x2, float(width))
    lo_v, hi_v = max(y1, 0.0), min(y2, float(height))
    return (z > 1e-6) & (u >= lo_u) & (u < hi_u) & (v >= lo_v) & (v < hi_v)


def seed_from_generator(generator) -> int:
    """A 63-bit seed drawn from a torch.Generator (numpy draws follow the caller's generator)."""
    import torch

    if generator is None:
        return int(torch.randint(0, 2**62, (1,)).item())
    return int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
