"""Visibility of GT joints/vertices for the metric split into visible and invisible parts.

Official definition (reference-egohmr.md section 5, `test_egohmr.py`): a GT joint (vertex) is visible when its
perspective projection with the PV intrinsics lands inside [0, W) x [0, H). There is no occlusion test. This is not the
OpenPose-based mask used to condition the model.
"""

from __future__ import annotations

import numpy as np

from egohmr.evaluate.arrays import ArrayLike, to_numpy
from egohmr.geometry.cameras import perspective_project


def in_image_mask(
    points_pv: ArrayLike,
    fx: ArrayLike,
    fy: ArrayLike,
    cx: ArrayLike,
    cy: ArrayLike,
    image_size_px: tuple[int, int] = (1920, 1080),
    official: bool = False,
) -> np.ndarray:
    """Return which points project inside the image.

    Notation: u = fx (x / z) + cx, v = fy (y / z) + cy; visible iff 0 <= u < W and 0 <= v < H (and z > 0).

    Args:
        points_pv: (B, P, 3) float, metres, PV camera frame (OpenCV axes). GT joints or vertices.
        fx, fy: (B,) float, px. Focal lengths of each frame.
        cx, cy: (B,) float, px. Principal point of each frame.
        image_size_px: (W, H) of the full PV image, px.
        official: reproduce the official test: the y coordinate is projected with fx (the official code passes
            `[fx, fx]` as focal lengths) and points behind the camera (z <= 0) are not rejected. Corrected (False):
            fy for y and z > 0 required.

    Returns:
        (B, P) bool. True where the point is visible.
    """
    points = to_numpy(points_pv)
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"in_image_mask: points_pv must have shape (B, P, 3), got {points.shape}")
    batch = points.shape[0]
    fx_b, fy_b, cx_b, cy_b = (np.broadcast_to(to_numpy(v).reshape(-1), (batch,)) for v in (fx, fy, cx, cy))
    uv = perspective_project(points, fx_b, fx_b if official else fy_b, cx_b, cy_b)  # (B, P, 2)
    u, v = uv[..., 0], uv[..., 1]
    width, height = image_size_px
    visible = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    if not official:
        visible &= points[..., 2] > 0
    return visible
