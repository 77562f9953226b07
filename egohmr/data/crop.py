"""Square bounding boxes, affine pixel maps, the image crop warp and the official crop normalisation.

Pixel convention: full-image and crop pixel coordinates ``_px`` put the centre of pixel (row i, column j) at
``(x, y) = (j, i)`` (OpenCV / OpenPose convention). A 2D affine map is a (2, 3) float64 numpy array ``A`` acting on
column vectors ``[x, y, 1]``: ``p' = A[:, :2] @ p + A[:, 2]``.

Official crop (reference-egohmr.md section 2): square box of side ``scale * 200 * 1.2`` px around the npz ``center``,
warped with bilinear interpolation to ``S x S`` (S = 224) so that the box centre lands on crop pixel ``S / 2`` and the
box side on ``S`` pixels; RGB; per-channel colour scale, clip to [0, 255]; ImageNet normalisation in 0..255 units.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from egohmr.constants import BBOX_ENLARGE, BBOX_SCALE_UNIT_PX, IMAGENET_MEAN_RGB, IMAGENET_STD_RGB

__all__ = [
    "affine_apply",
    "affine_compose",
    "affine_invert",
    "bbox_from_center_scale",
    "crop_from_full_map",
    "normalize_crop",
    "warp_image",
    "warp_image_reference",
]


def bbox_from_center_scale(
    center_px: np.ndarray, scale: np.ndarray | float, enlarge: float = BBOX_ENLARGE
) -> tuple[np.ndarray, np.ndarray]:
    """Square box from the npz ``center`` / ``scale`` (MPII convention: side = scale * 200 px), enlarged.

    Args:
        center_px: (..., 2) float, box centre, full-image px.
        scale: (...) float, npz ``scale`` (box side / 200 px).
        enlarge: factor on the side (official ``--add_bbox_scale`` 1.2).

    Returns:
        ``(bbox_center_px (..., 2) float64, bbox_size_px (...) float64)``.
    """
    center = np.asarray(center_px, dtype=np.float64)
    if center.shape[-1:] != (2,):
        raise ValueError(f"center_px must have shape (..., 2), got {center.shape}")
    size = np.asarray(scale, dtype=np.float64) * BBOX_SCALE_UNIT_PX * float(enlarge)
    return center.copy(), size


def _check_affine(A: np.ndarray, name: str) -> np.ndarray:
    A = np.asarray(A, dtype=np.float64)
    if A.shape != (2, 3):
        raise ValueError(f"{name} must be a (2, 3) affine map, got shape {A.shape}")
    return A


def affine_apply(A: np.ndarray, points_px: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine map to points.

    Args:
        A: (2, 3) float affine map.
        points_px: (..., 2) float points.

    Returns:
        (..., 2) float64 mapped points.
    """
    A = _check_affine(A, "A")
    pts = np.asarray(points_px, dtype=np.float64)
    if pts.shape[-1:] != (2,):
        raise ValueError(f"points_px must have shape (..., 2), got {pts.shape}")
    return pts @ A[:, :2].T + A[:, 2]


def affine_compose(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A o B`` (apply ``B`` first, then ``A``) -> (2, 3) float64."""
    A = _check_affine(A, "A")
    B = _check_affine(B, "B")
    out = np.empty((2, 3))
    out[:, :2] = A[:, :2] @ B[:, :2]
    out[:, 2] = A[:, :2] @ B[:, 2] + A[:, 2]
    return out


def affine_invert(A: np.ndarray) -> np.ndarray:
    """Inverse of an invertible (2, 3) affine map -> (2, 3) float64."""
    A = _check_affine(A, "A")
    M = np.linalg.inv(A[:, :2])
    out = np.empty((2, 3))
    out[:, :2] = M
    out[:, 2] = -M @ A[:, 2]
    return out


def crop_from_full_map(bbox_center_px: Sequence[float], bbox_size_px: float, crop_size_px: int) -> np.ndarray:
    """Map full-image px -> crop px for an axis-aligned square box: ``q = S/2 + (p - c) * S / b``.

    Args:
        bbox_center_px: (2,) box centre ``c``, full-image px.
        bbox_size_px: box side ``b`` in full-image px (> 0).
        crop_size_px: crop side ``S`` (224 by default in the configs).

    Returns:
        (2, 3) float64 affine map.
    """
    c = np.asarray(bbox_center_px, dtype=np.float64)
    if c.shape != (2,):
        raise ValueError(f"bbox_center_px must have shape (2,), got {c.shape}")
    if not float(bbox_size_px) > 0:
        raise ValueError(f"bbox_size_px must be > 0, got {bbox_size_px}")
    k = float(crop_size_px) / float(bbox_size_px)
    half = 0.5 * float(crop_size_px)
    return np.array([[k, 0.0, half - k * c[0]], [0.0, k, half - k * c[1]]])


def warp_image(image_rgb: np.ndarray, crop_to_src: np.ndarray, crop_size_px: int) -> np.ndarray:
    """Bilinear warp of an image into an ``S x S`` crop (Pillow, C speed); outside pixels are 0.

    Args:
        image_rgb: (H, W, 3) uint8 source image.
        crop_to_src: (2, 3) affine map crop px -> source px (pixel-centre convention of this module).
        crop_size_px: crop side ``S``.

    Returns:
        (S, S, 3) uint8 crop.
    """
    from PIL import Image

    A = _check_affine(crop_to_src, "crop_to_src")
    img = np.asarray(image_rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"image_rgb must be (H, W, 3) uint8, got {img.shape} {img.dtype}")
    # Pillow samples output pixel centres at (x + 0.5, y + 0.5) and reads the source with centres at i + 0.5:
    # shift our pixel-centre convention by half a pixel on both sides.
    lin = A[:, :2]
    off = A[:, 2] + 0.5 - 0.5 * lin.sum(axis=1)
    data = (lin[0, 0], lin[0, 1], off[0], lin[1, 0], lin[1, 1], off[1])
    out = Image.fromarray(img).transform(
        (int(crop_size_px), int(crop_size_px)), Image.Transform.AFFINE, data, resample=Image.Resampling.BILINEAR
    )
    return np.asarray(out)


def warp_image_reference(image_rgb: np.ndarray, crop_to_src: np.ndarray, crop_size_px: int) -> np.ndarray:
    """Pure-numpy bilinear warp (reference for ``warp_image``; same arguments, float64 output in 0..255).

    A sample whose 2x2 neighbourhood leaves the image reads 0 for the missing neighbours.
    """
    A = _check_affine(crop_to_src, "crop_to_src")
    img = np.asarray(image_rgb, dtype=np.float64)
    H, W = img.shape[:2]
    S = int(crop_size_px)
    qy, qx = np.mgrid[0:S, 0:S].astype(np.float64)  # (S, S) each
    src = affine_apply(A, np.stack([qx, qy], axis=-1))  # (S, S, 2)
    x0 = np.floor(src[..., 0]).astype(np.int64)
    y0 = np.floor(src[..., 1]).astype(np.int64)
    fx = src[..., 0] - x0
    fy = src[..., 1] - y0
    out = np.zeros((S, S, img.shape[2]))
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            xi, yi = x0 + dx, y0 + dy
            ok = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
            vals = np.zeros((S, S, img.shape[2]))
            vals[ok] = img[yi[ok], xi[ok]]
            out += (wx * wy)[..., None] * vals
    return out


def normalize_crop(
    crop_rgb: np.ndarray,
    color_scale: Sequence[float] = (1.0, 1.0, 1.0),
    mean_rgb: Sequence[float] = IMAGENET_MEAN_RGB,
    std_rgb: Sequence[float] = IMAGENET_STD_RGB,
) -> np.ndarray:
    """Official crop normalisation: ``(clip(x * colour, 0, 255) - 255 mean) / (255 std)`` per RGB channel.

    Args:
        crop_rgb: (S, S, 3) uint8 or float, RGB, 0..255.
        color_scale: (3,) per-channel colour factor (augmentation; 1 at test time).
        mean_rgb, std_rgb: (3,) normalisation in 0..1 units (ImageNet).

    Returns:
        (3, S, S) float32, channel-first.
    """
    x = np.asarray(crop_rgb, dtype=np.float32)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"crop_rgb must be (S, S, 3), got {x.shape}")
    scale = np.asarray(color_scale, dtype=np.float32)
    mean = 255.0 * np.asarray(mean_rgb, dtype=np.float32)
    std = 255.0 * np.asarray(std_rgb, dtype=np.float32)
    x = np.clip(x * scale, 0.0, 255.0)
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1))  # (3, S, S)
