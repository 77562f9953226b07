"""Pinhole projection and the crop weak-perspective camera <-> full-image translation conversion.

Camera frame: OpenCV / HoloLens PV convention (x right, y down, z forward), metres. Pixel coordinates ``_px`` of the
full image. Intrinsics ``(fx, fy, cx, cy)`` are always passed in (per frame); there is no default focal length.

The crop camera ``cam_crop = [s, tx, ty]`` is ProHMR's weak-perspective camera of the square crop that is resized to
``crop_size_px`` (224) pixels (reference-egohmr.md section 2).

`perspective_project` takes torch tensors or numpy arrays; the crop-camera conversions are torch only.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

from egohmr.constants import CROP_SIZE_PX

__all__ = ["crop_cam_to_full_transl", "crop_cam_transl", "full_transl_to_crop_cam", "perspective_project"]

Scalar = float | torch.Tensor
Array = TypeVar("Array", torch.Tensor, np.ndarray)


def _as(value: Scalar, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


def _check_last_dim(x: torch.Tensor | np.ndarray, size: int, name: str) -> None:
    if x.ndim < 1 or x.shape[-1] != size:
        raise ValueError(f"{name} must have shape (..., {size}), got {tuple(x.shape)}")


def perspective_project(
    points_pv: Array,
    fx: Scalar | np.ndarray,
    fy: Scalar | np.ndarray,
    cx: Scalar | np.ndarray,
    cy: Scalar | np.ndarray,
    min_depth_m: float | None = None,
) -> Array:
    """Project camera-frame points to pixels: ``u = fx (x/z) + cx``, ``v = fy (y/z) + cy``.

    Args:
        points_pv: (..., N, 3) float, metres, PV camera frame (z > 0 in front of the camera); a torch tensor or a
            numpy array.
        fx, fy: focal lengths in px; float, or array of shape (...) (one value per frame), cast to the points' dtype.
        cx, cy: principal point in px; float or array of shape (...).
        min_depth_m: if given, ``z`` is clamped to at least this depth (keeps points at or behind the camera
            finite); otherwise ``z = 0`` gives infinite pixels.

    Returns:
        (..., N, 2) float, full-image pixels; the type of ``points_pv``.
    """
    _check_last_dim(points_pv, 3, "points_pv")
    if isinstance(points_pv, np.ndarray):
        fx, fy, cx, cy = (np.asarray(v, dtype=points_pv.dtype)[..., None] for v in (fx, fy, cx, cy))
        stack = np.stack
    else:
        fx, fy, cx, cy = (_as(v, points_pv)[..., None] for v in (fx, fy, cx, cy))  # (..., 1) each
        stack = torch.stack
    x, y, z = points_pv[..., 0], points_pv[..., 1], points_pv[..., 2]  # (..., N) each
    if min_depth_m is not None:
        z = z.clip(min=min_depth_m)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = fx * (x / z) + cx
        v = fy * (y / z) + cy
    return stack((u, v), -1)  # (..., N, 2)


def crop_cam_to_full_transl(
    cam_crop: torch.Tensor,
    bbox_center_px: torch.Tensor,
    bbox_size_px: Scalar,
    fx: Scalar,
    cx: Scalar,
    cy: Scalar,
) -> torch.Tensor:
    """Crop weak-perspective camera to the body translation in the full-image camera frame.

    Official ``convert_pare_to_full_img_cam`` with the image centre taken as the principal point
    (reference-egohmr.md section 2): ``tz = 2 fx / (s b)``, ``tx_full = tx + 2 (bcx - cx) / (s b)``,
    ``ty_full = ty + 2 (bcy - cy) / (s b)`` with ``b`` the square box side.

    Args:
        cam_crop: (..., 3) float ``[s, tx, ty]``, crop camera.
        bbox_center_px: (..., 2) float, box centre in full-image px.
        bbox_size_px: float or (...) tensor, square box side in px.
        fx: float or (...) tensor, focal length in px.
        cx, cy: float or (...) tensors, principal point in px.

    Returns:
        (..., 3) float, metres, PV frame: translation of the body.
    """
    _check_last_dim(cam_crop, 3, "cam_crop")
    _check_last_dim(bbox_center_px, 2, "bbox_center_px")
    s, tx, ty = cam_crop.unbind(-1)  # (...) each
    b, f, cx, cy = (_as(v, cam_crop) for v in (bbox_size_px, fx, cx, cy))
    sb = s * b
    tz = 2.0 * f / sb
    tx_full = tx + 2.0 * (bbox_center_px[..., 0] - cx) / sb
    ty_full = ty + 2.0 * (bbox_center_px[..., 1] - cy) / sb
    return torch.stack(torch.broadcast_tensors(tx_full, ty_full, tz), dim=-1)  # (..., 3)


def full_transl_to_crop_cam(
    transl_pv: torch.Tensor,
    bbox_center_px: torch.Tensor,
    bbox_size_px: Scalar,
    fx: Scalar,
    cx: Scalar,
    cy: Scalar,
) -> torch.Tensor:
    """Inverse of :func:`crop_cam_to_full_transl`.

    ``s = 2 fx / (b tz)``, ``tx = tx_full - (bcx - cx) tz / fx``, ``ty = ty_full - (bcy - cy) tz / fx``.

    Args:
        transl_pv: (..., 3) float, metres, PV frame (tz > 0).
        bbox_center_px: (..., 2) float, box centre in full-image px.
        bbox_size_px: float or (...) tensor, square box side in px.
        fx: float or (...) tensor, focal length in px.
        cx, cy: float or (...) tensors, principal point in px.

    Returns:
        (..., 3) float ``[s, tx, ty]``, crop camera.
    """
    _check_last_dim(transl_pv, 3, "transl_pv")
    _check_last_dim(bbox_center_px, 2, "bbox_center_px")
    tx_full, ty_full, tz = transl_pv.unbind(-1)  # (...) each
    b, f, cx, cy = (_as(v, transl_pv) for v in (bbox_size_px, fx, cx, cy))
    s = 2.0 * f / (b * tz)
    tx = tx_full - (bbox_center_px[..., 0] - cx) * tz / f
    ty = ty_full - (bbox_center_px[..., 1] - cy) * tz / f
    return torch.stack(torch.broadcast_tensors(s, tx, ty), dim=-1)  # (..., 3)


def crop_cam_transl(cam_crop: torch.Tensor, fx: Scalar, crop_size_px: float = CROP_SIZE_PX) -> torch.Tensor:
    """Translation of the crop camera, as written inline in the official stage 1 (reference-egohmr.md section 2).

    ``[tx, ty, 2 fx / (crop_size_px s + 1e-9)]``.

    Args:
        cam_crop: (..., 3) float ``[s, tx, ty]``.
        fx: float or (...) tensor, focal length in px.
        crop_size_px: side of the crop in px (224 in the official code).

    Returns:
        (..., 3) float, metres, crop-camera frame.
    """
    _check_last_dim(cam_crop, 3, "cam_crop")
    s, tx, ty = cam_crop.unbind(-1)
    tz = 2.0 * _as(fx, cam_crop) / (crop_size_px * s + 1e-9)
    return torch.stack(torch.broadcast_tensors(tx, ty, tz), dim=-1)  # (..., 3)
