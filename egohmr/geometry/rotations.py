"""Rotation conversions: axis-angle, quaternions, rotation matrices and the two 6D layouts.

Conventions:
    * Rotation matrices act on column vectors: ``p' = R @ p``. A matrix ``R`` has columns ``(b1, b2, b3)``.
    * Quaternions are ordered ``(w, x, y, z)``.
    * Axis-angle vectors ``aa`` have direction = rotation axis and norm = angle in radians.
    * All functions are batched over any leading dimensions ``...`` and follow the input's device and dtype.

6D layouts (reference-egohmr.md sections 2 and 3). Let ``c0``, ``c1`` be the first two columns of ``R``:
    * ``order="col"`` (ProHMR / stage-1 flow): ``[c0; c1] = [R00, R10, R20, R01, R11, R21]``.
    * ``order="row"`` (diffusion / stage-2 denoiser): ``R[..., :, :2]`` read row by row
      ``= [R00, R01, R10, R11, R20, R21]``.

Parity note: the official ``aa_to_rotmat`` adds 1e-8 to every component before taking the norm. We do not reproduce
that bias; ``axis_angle_to_rotmat`` is an exact Rodrigues formula (Taylor series near 0, finite gradients everywhere).
The two agree to about 1e-8 (tested against the float64 fixture ``rot6d_and_camera.npz``).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

__all__ = [
    "Rot6dOrder",
    "axis_angle_to_rotmat",
    "gram_schmidt",
    "quat_to_axis_angle",
    "quat_to_rotmat",
    "rot6d_to_rotmat",
    "rotmat_to_axis_angle",
    "rotmat_to_quat",
    "rotmat_to_rot6d",
    "skew",
]

Rot6dOrder = Literal["col", "row"]

# Below this squared angle (rad^2) the Taylor series are used; their truncation error is < 1e-20 there.
_SMALL_ANGLE_SQ = 1e-6


def _check_last_dim(x: torch.Tensor, size: int, name: str) -> None:
    if x.ndim < 1 or x.shape[-1] != size:
        raise ValueError(f"{name} must have shape (..., {size}), got {tuple(x.shape)}")


def _check_rotmat(R: torch.Tensor, name: str = "R") -> None:
    if R.ndim < 2 or R.shape[-2:] != (3, 3):
        raise ValueError(f"{name} must have shape (..., 3, 3), got {tuple(R.shape)}")


def skew(v: torch.Tensor) -> torch.Tensor:
    """Cross-product matrix ``[v]_x`` with ``[v]_x @ u = v x u``.

    Args:
        v: (..., 3) float.

    Returns:
        (..., 3, 3) float, same dtype/device as ``v``.
    """
    _check_last_dim(v, 3, "v")
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    rows = (zero, -z, y, z, zero, -x, -y, x, zero)
    return torch.stack(rows, dim=-1).reshape(*v.shape[:-1], 3, 3)  # (..., 3, 3)


def axis_angle_to_rotmat(aa: torch.Tensor) -> torch.Tensor:
    """Axis-angle to rotation matrix (Rodrigues).

    ``R = I + (sin t / t) K + ((1 - cos t) / t^2) K^2`` with ``K = [aa]_x`` and ``t = |aa|``. Both coefficients are
    smooth functions of ``t^2``; near 0 their Taylor series are used, so the value and the gradient are finite at 0.

    Args:
        aa: (..., 3) float, radians. Axis times angle.

    Returns:
        (..., 3, 3) float rotation matrices (column-vector convention).
    """
    _check_last_dim(aa, 3, "aa")
    theta_sq = (aa * aa).sum(-1)  # (...)
    small = theta_sq < _SMALL_ANGLE_SQ
    theta_sq_safe = torch.where(small, torch.ones_like(theta_sq), theta_sq)
    theta = theta_sq_safe.sqrt()
    # a = sin(t)/t ; b = (1 - cos t)/t^2 = 2 sin^2(t/2)/t^2 (no cancellation)
    a_big = torch.sin(theta) / theta
    b_big = 2.0 * torch.sin(0.5 * theta) ** 2 / theta_sq_safe
    a_small = 1.0 - theta_sq / 6.0 + theta_sq * theta_sq / 120.0
    b_small = 0.5 - theta_sq / 24.0 + theta_sq * theta_sq / 720.0
    a = torch.where(small, a_small, a_big)[..., None, None]  # (..., 1, 1)
    b = torch.where(small, b_small, b_big)[..., None, None]  # (..., 1, 1)
    K = skew(aa)  # (..., 3, 3)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(K)
    return eye + a * K + b * (K @ K)  # (..., 3, 3)


def quat_to_rotmat(q: torch.Tensor) -> torch.Tensor:
    """Quaternion ``(w, x, y, z)`` to rotation matrix. The quaternion is normalised first.

    Args:
        q: (..., 4) float, any non-zero norm.

    Returns:
        (..., 3, 3) float rotation matrices.
    """
    _check_last_dim(q, 4, "q")
    q = F.normalize(q, dim=-1)
    w, x, y, z = q.unbind(-1)
    ww, xx, yy, zz = w * w, x * x, y * y, z * z
    wx, wy, wz = w * x, w * y, w * z
    xy, xz, yz = x * y, x * z, y * z
    entries = (
        ww + xx - yy - zz, 2 * (xy - wz), 2 * (xz + wy),
        2 * (xy + wz), ww - xx + yy - zz, 2 * (yz - wx),
        2 * (xz - wy), 2 * (yz + wx), ww - xx - yy + zz,
    )  # fmt: skip
    return torch.stack(entries, dim=-1).reshape(*q.shape[:-1], 3, 3)  # (..., 3, 3)


def rotmat_to_quat(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrix to unit quaternion ``(w, x, y, z)`` with ``w >= 0``.

    Uses the numerically best of the four standard branches (largest of ``1 + trace``, ``1 + 2 R_ii - trace``), so it
    is stable for all angles including pi.

    Args:
        R: (..., 3, 3) float rotation matrices.

    Returns:
        (..., 4) float unit quaternions.
    """
    _check_rotmat(R)
    m00, m01, m02 = R[..., 0, 0], R[..., 0, 1], R[..., 0, 2]
    m10, m11, m12 = R[..., 1, 0], R[..., 1, 1], R[..., 1, 2]
    m20, m21, m22 = R[..., 2, 0], R[..., 2, 1], R[..., 2, 2]
    # 4 * (w^2, x^2, y^2, z^2)
    sq = torch.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1
    )  # (..., 4)
    # Each candidate row k is 4 * q_k * q (exact up to the sign of q_k).
    cand = torch.stack(
        [
            torch.stack([sq[..., 0], m21 - m12, m02 - m20, m10 - m01], dim=-1),
            torch.stack([m21 - m12, sq[..., 1], m10 + m01, m02 + m20], dim=-1),
            torch.stack([m02 - m20, m10 + m01, sq[..., 2], m12 + m21], dim=-1),
            torch.stack([m10 - m01, m20 + m02, m21 + m12, sq[..., 3]], dim=-1),
        ],
        dim=-2,
    )  # (..., 4, 4)
    best = sq.argmax(dim=-1, keepdim=True)  # (..., 1)
    q = torch.gather(cand, -2, best[..., None].expand(*best.shape[:-1], 1, 4)).squeeze(-2)  # (..., 4)
    q = F.normalize(q, dim=-1)
    return torch.where(q[..., :1] < 0, -q, q)


def quat_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    """Quaternion ``(w, x, y, z)`` to axis-angle with angle in [0, pi].

    Args:
        q: (..., 4) float, any non-zero norm.

    Returns:
        (..., 3) float, radians.
    """
    _check_last_dim(q, 4, "q")
    q = F.normalize(q, dim=-1)
    q = torch.where(q[..., :1] < 0, -q, q)
    w, xyz = q[..., 0], q[..., 1:]
    s_sq = (xyz * xyz).sum(-1)  # sin^2(t/2)
    small = s_sq < _SMALL_ANGLE_SQ
    s = torch.where(small, torch.ones_like(s_sq), s_sq).sqrt()
    half = torch.atan2(s, w)
    # aa = xyz * t / sin(t/2); for small angles t/sin(t/2) ~ 2 / w * (1 + s^2/(6 w^2)) -> use series in s with w ~ 1
    factor_big = 2.0 * half / s
    factor_small = 2.0 / w * (1.0 - s_sq / (3.0 * w * w))
    factor = torch.where(small, factor_small, factor_big)
    return xyz * factor[..., None]


def rotmat_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrix to axis-angle (angle in [0, pi]; at exactly pi the axis sign is arbitrary).

    Args:
        R: (..., 3, 3) float rotation matrices.

    Returns:
        (..., 3) float, radians.
    """
    return quat_to_axis_angle(rotmat_to_quat(R))


def gram_schmidt(a1: torch.Tensor, a2: torch.Tensor) -> torch.Tensor:
    """Rotation matrix from two 3-vectors by Gram-Schmidt.

    ``b1 = normalize(a1)``; ``b2 = normalize(a2 - (b1 . a2) b1)``; ``b3 = b1 x b2``; the result has columns
    ``(b1, b2, b3)`` (reference-egohmr.md sections 2-3, as the official decoders).

    Args:
        a1: (..., 3) float, first column direction.
        a2: (..., 3) float, second column direction (not parallel to ``a1``).

    Returns:
        (..., 3, 3) float rotation matrices.
    """
    _check_last_dim(a1, 3, "a1")
    _check_last_dim(a2, 3, "a2")
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)  # (..., 3, 3)


def _check_order(order: str) -> None:
    if order not in ("col", "row"):
        raise ValueError(f"order must be 'col' (ProHMR / stage 1) or 'row' (diffusion / stage 2), got {order!r}")


def rot6d_to_rotmat(x6: torch.Tensor, order: Rot6dOrder) -> torch.Tensor:
    """6D rotation representation to rotation matrix via Gram-Schmidt.

    Args:
        x6: (..., 6) float. ``order="col"``: ``[R00, R10, R20, R01, R11, R21]`` (ProHMR, stage 1);
            ``order="row"``: ``[R00, R01, R10, R11, R20, R21]`` (diffusion, stage 2). Need not be orthonormal.
        order: which 6D layout ``x6`` uses.

    Returns:
        (..., 3, 3) float rotation matrices.
    """
    _check_order(order)
    _check_last_dim(x6, 6, "x6")
    if order == "col":
        a1, a2 = x6[..., 0:3], x6[..., 3:6]
    else:
        cols = x6.reshape(*x6.shape[:-1], 3, 2)  # (..., 3, 2)
        a1, a2 = cols[..., 0], cols[..., 1]
    return gram_schmidt(a1, a2)


def rotmat_to_rot6d(R: torch.Tensor, order: Rot6dOrder) -> torch.Tensor:
    """Rotation matrix to 6D representation (the first two columns).

    Args:
        R: (..., 3, 3) float rotation matrices.
        order: ``"col"`` -> ``[R00, R10, R20, R01, R11, R21]`` (ProHMR, stage 1);
            ``"row"`` -> ``[R00, R01, R10, R11, R20, R21]`` (diffusion, stage 2).

    Returns:
        (..., 6) float.
    """
    _check_order(order)
    _check_rotmat(R)
    two = R[..., :, :2]  # (..., 3, 2)
    if order == "col":
        two = two.transpose(-1, -2)  # (..., 2, 3)
    return two.reshape(*R.shape[:-2], 6)  # (..., 6)
