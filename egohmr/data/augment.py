"""Training augmentation, applied consistently to the image crop, 2D keypoints, 3D joints, SMPL and scene points.

Official values and draws (reference-egohmr.md section 2): bbox shift ``clip(N, -1, 1) * 0.02 * bbox`` (always),
scale ``1 + clip(N, -1, 1) * 0.3``, in-plane rotation ``clip(N, -2, 2) * 30 deg`` with probability 0.6, horizontal
flip with probability 0.5, colour ``U[0.8, 1.2]`` per channel.

Geometric model (what makes every output agree). An augmentation is a new *view* of the same frame:

1. Flip: the camera-frame content is mirrored, ``x -> -x`` (``F = diag(-1, 1, 1)``); the full image is mirrored,
   ``u -> W - 1 - u`` (pixel-centre convention of ``crop.py``, as the official image and keypoint flip) and the
   principal point becomes ``cx -> W - 1 - cx`` (the official code writes ``1920 - cx``, 1 px off; with ``W - 1`` the
   3D points project exactly onto the flipped keypoints). Left and right joints swap names.
2. Rotation by ``theta`` about the camera's optical axis: ``p' = Rz(theta) p`` for every camera-frame quantity
   (3D joints, scene points, global orientation, pelvis). In the full image this is the linear map about the principal
   point ``u' - cx = c (u - cx) - s (fx / fy) (v - cy)``, ``v' - cy = s (fy / fx) (u - cx) + c (v - cy)``, so the
   rotated 3D points project exactly onto the mapped keypoints with unchanged intrinsics. The crop is an axis-aligned
   box in this rotated view, i.e. a box rotated by ``-theta`` in the original image, which is the official crop.
3. Box: the bbox centre follows the keypoint map, then is shifted by ``shift * size``; the side is multiplied by
   ``scale``. Shift and scale only change the crop, not the 3D quantities.

Together: ``L = Rz(theta) @ F`` acts on camera-frame vectors; ``global_orient' = L @ R @ F`` (mirrored body: the
official flip of the SMPL pose negates the y, z axis-angle components, i.e. ``F R F``), body pose ``F R F`` with left
and right joints swapped, and the translation is recomputed from the augmented pelvis:
``transl' = L @ pelvis - (pelvis - transl)`` (``pelvis - transl`` is the pose-independent pelvis offset of the betas).
Randomness comes only from the ``numpy.random.Generator`` passed in: ``augment_rng`` (per-epoch draws of training),
``view_rng`` (the fixed augmented views of a frame whose image features are cached, ``egohmr.data.feature_cache``) and
``draw_view`` (which of those views a training epoch uses). The three are separate streams of ``SeedSequence``: the
view streams carry their own spawn key, so they never coincide with an epoch stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from egohmr.constants import OPENPOSE25_NAMES, SMPL_JOINT_NAMES
from egohmr.data.crop import affine_apply, affine_compose, affine_invert, crop_from_full_map

__all__ = [
    "AugmentConfig",
    "AugmentParams",
    "AugmentedView",
    "augment_rng",
    "draw_view",
    "flip_permutation",
    "identity_params",
    "make_view",
    "sample_augment_params",
    "view_rng",
]


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation magnitudes (official defaults, ``configs/__init__.py`` DATASETS.CONFIG)."""

    trans_factor: float = 0.02
    """Bbox centre shift = clip(N, -1, 1) * trans_factor * bbox side."""
    scale_factor: float = 0.3
    """Bbox side factor = 1 + clip(N, -1, 1) * scale_factor."""
    rot_factor_deg: float = 30.0
    """In-plane rotation = clip(N, -2, 2) * rot_factor_deg degrees."""
    rot_prob: float = 0.6
    """Probability of applying the rotation."""
    flip_prob: float = 0.5
    """Probability of a horizontal flip."""
    color_scale: float = 0.2
    """Per-channel colour factor ~ U[1 - color_scale, 1 + color_scale]."""


@dataclass(frozen=True)
class AugmentParams:
    """One draw of augmentation parameters.

    Attributes:
        shift_frac: (2,) bbox centre shift as a fraction of the bbox side (x, y).
        scale: bbox side factor.
        rot_rad: rotation of camera-frame content about the optical axis, ``p' = Rz(rot_rad) p`` (radians).
        flip: horizontal flip.
        color_scale: (3,) RGB factors.
    """

    shift_frac: tuple[float, float] = (0.0, 0.0)
    scale: float = 1.0
    rot_rad: float = 0.0
    flip: bool = False
    color_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)


def identity_params() -> AugmentParams:
    """No augmentation (evaluation)."""
    return AugmentParams()


_VIEW_STREAM = 0x76696577
"""Spawn key of the augmented-view streams (``view_rng``)."""
_VIEW_CHOICE_STREAM = 0x63686F6F
"""Spawn key of the per-epoch view choice (``draw_view``)."""


def _seed_sequence(stream: int | None, **words: int) -> np.random.SeedSequence:
    for name, value in words.items():
        if int(value) < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    entropy = [int(v) for v in words.values()]
    return np.random.SeedSequence(entropy) if stream is None else np.random.SeedSequence(entropy, spawn_key=(stream,))


def augment_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """Generator seeded by ``(seed, epoch, index)``: the same sample gets the same draw in any worker."""
    return np.random.default_rng(_seed_sequence(None, seed=seed, epoch=epoch, index=index))


def view_rng(seed: int, view: int, index: int) -> np.random.Generator:
    """Generator of augmented view ``view`` of frame row ``index``: fixed for ``(seed, view, index)``, independent of
    the epoch, and never the stream of ``augment_rng``."""
    return np.random.default_rng(_seed_sequence(_VIEW_STREAM, seed=seed, view=view, index=index))


def draw_view(seed: int, epoch: int, index: int, num_views: int) -> int:
    """The view in ``0..num_views - 1`` (uniform) that training item ``index`` uses in ``epoch``."""
    if num_views < 1:
        raise ValueError(f"num_views must be >= 1, got {num_views}")
    rng = np.random.default_rng(_seed_sequence(_VIEW_CHOICE_STREAM, seed=seed, epoch=epoch, index=index))
    return int(rng.integers(num_views))


def sample_augment_params(cfg: AugmentConfig, rng: np.random.Generator) -> AugmentParams:
    """Draw augmentation parameters in the official order (shift x, shift y, scale, rotation, flip, colour).

    Args:
        cfg: magnitudes.
        rng: source of randomness.

    Returns:
        AugmentParams. The rotation sign convention differs from the official ``rot`` (degrees, image rotation of
        the crop box); the distribution is symmetric so the two are equivalent.
    """
    tx = float(np.clip(rng.standard_normal(), -1.0, 1.0)) * cfg.trans_factor
    ty = float(np.clip(rng.standard_normal(), -1.0, 1.0)) * cfg.trans_factor
    scale = 1.0 + float(np.clip(rng.standard_normal(), -1.0, 1.0)) * cfg.scale_factor
    rot_deg = float(np.clip(rng.standard_normal(), -2.0, 2.0)) * cfg.rot_factor_deg
    if rng.random() > cfg.rot_prob:
        rot_deg = 0.0
    flip = bool(rng.random() <= cfg.flip_prob) if cfg.flip_prob > 0 else False
    lo, hi = 1.0 - cfg.color_scale, 1.0 + cfg.color_scale
    color = tuple(float(v) for v in rng.uniform(lo, hi, size=3))
    return AugmentParams(shift_frac=(tx, ty), scale=scale, rot_rad=math.radians(rot_deg), flip=flip, color_scale=color)


def _swap_side(name: str, prefixes: tuple[str, str]) -> str:
    left, right = prefixes
    if name.startswith(left):
        return right + name[len(left) :]
    if name.startswith(right):
        return left + name[len(right) :]
    return name


def flip_permutation(joint_set: str) -> np.ndarray:
    """Index permutation that swaps left and right joints, derived from the joint names in ``constants``.

    Args:
        joint_set: ``"smpl24"`` (SMPL_JOINT_NAMES, ``left_``/``right_``) or ``"op25"`` (OPENPOSE25_NAMES,
            ``L``/``R``).

    Returns:
        (J,) int64 with ``flipped[j] = original[perm[j]]``.
    """
    if joint_set == "smpl24":
        names, prefixes = SMPL_JOINT_NAMES, ("left_", "right_")
    elif joint_set == "op25":
        names, prefixes = OPENPOSE25_NAMES, ("L", "R")
    else:
        raise ValueError(f"joint_set must be 'smpl24' or 'op25', got {joint_set!r}")
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[_swap_side(n, prefixes)] for n in names], dtype=np.int64)


_FLIP3 = np.diag([-1.0, 1.0, 1.0])


@dataclass(frozen=True)
class AugmentedView:
    """The augmented view of one frame (all float64 numpy).

    Attributes:
        cam_map: (3, 3) ``L``; camera-frame vectors map as ``p'_pv = L @ p_pv``.
        full_map: (2, 3) affine map, original full-image px -> augmented full-image px.
        fx, fy, cx, cy: augmented intrinsics (px).
        bbox_center_px: (2,) box centre in the augmented full image.
        bbox_size_px: box side (px).
        crop_to_src: (2, 3) affine map, crop px -> original full-image px (for warping the original image).
        full_to_crop: (2, 3) affine map, augmented full-image px -> crop px.
        params: the parameters used.
    """

    cam_map: np.ndarray
    full_map: np.ndarray
    fx: float
    fy: float
    cx: float
    cy: float
    bbox_center_px: np.ndarray
    bbox_size_px: float
    crop_to_src: np.ndarray
    full_to_crop: np.ndarray
    params: AugmentParams

    # ----------------------------------------------------------------------------------------- applications
    def points(self, points_pv: np.ndarray) -> np.ndarray:
        """(..., N, 3) camera-frame points -> augmented (same shape); joint order unchanged."""
        return np.asarray(points_pv, dtype=np.float64) @ self.cam_map.T

    def joints_smpl24(self, joints_pv: np.ndarray) -> np.ndarray:
        """(24, 3) SMPL joints -> augmented, with left/right swapped under a flip."""
        out = self.points(joints_pv)
        return out[flip_permutation("smpl24")] if self.params.flip else out

    def keypoints_op25(self, kp_full_px: np.ndarray) -> np.ndarray:
        """(25, 3) OpenPose (x, y, conf) in original full-image px -> augmented full-image px (conf kept)."""
        kp = np.asarray(kp_full_px, dtype=np.float64).copy()
        kp[:, :2] = affine_apply(self.full_map, kp[:, :2])
        return kp[flip_permutation("op25")] if self.params.flip else kp

    def crop_keypoints(self, kp_full_aug_px: np.ndarray) -> np.ndarray:
        """(K, 3) augmented full-image keypoints -> crop px (conf kept)."""
        kp = np.asarray(kp_full_aug_px, dtype=np.float64).copy()
        kp[:, :2] = affine_apply(self.full_to_crop, kp[:, :2])
        return kp

    def global_orient(self, global_orient_rotmat: np.ndarray) -> np.ndarray:
        """(3, 3) global orientation (PV frame) -> ``L R F`` (flip) or ``L R``."""
        R = self.cam_map @ np.asarray(global_orient_rotmat, dtype=np.float64)
        return R @ _FLIP3 if self.params.flip else R

    def body_pose(self, body_pose_rotmat: np.ndarray) -> np.ndarray:
        """(23, 3, 3) body pose -> mirrored (``F R F``, left/right swapped) under a flip, else unchanged."""
        R = np.asarray(body_pose_rotmat, dtype=np.float64)
        if not self.params.flip:
            return R.copy()
        perm = flip_permutation("smpl24")[1:] - 1  # body joints only, (23,)
        return _FLIP3 @ R[perm] @ _FLIP3

    def transl(self, transl_pv: np.ndarray, pelvis_pv: np.ndarray) -> np.ndarray:
        """(3,) SMPL translation recomputed from the augmented pelvis: ``L pelvis - (pelvis - transl)``."""
        transl = np.asarray(transl_pv, dtype=np.float64)
        pelvis = np.asarray(pelvis_pv, dtype=np.float64)
        return self.cam_map @ pelvis - (pelvis - transl)


def make_view(
    params: AugmentParams,
    fx: float,
    fy: float,
    cx: float,
    cy: float,
    width_px: int,
    bbox_center_px: np.ndarray,
    bbox_size_px: float,
    crop_size_px: int,
) -> AugmentedView:
    """Build the augmented view (see the module docstring for the model).

    Args:
        params: augmentation parameters (``identity_params()`` for evaluation).
        fx, fy, cx, cy: original intrinsics of the frame (px).
        width_px: full image width ``W`` (px), used by the flip.
        bbox_center_px: (2,) original box centre (px).
        bbox_size_px: original box side (px).
        crop_size_px: crop side ``S``.

    Returns:
        AugmentedView.
    """
    if not (fx > 0 and fy > 0):
        raise ValueError(f"focal lengths must be > 0, got fx={fx}, fy={fy}")
    fx, fy, cx, cy = float(fx), float(fy), float(cx), float(cy)
    # 1. flip (image mirror about (W - 1) / 2, camera mirror x -> -x)
    if params.flip:
        flip2 = np.array([[-1.0, 0.0, width_px - 1.0], [0.0, 1.0, 0.0]])
        cx = width_px - 1.0 - cx
        F = _FLIP3
    else:
        flip2 = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        F = np.eye(3)
    # 2. rotation about the optical axis: Rz in 3D, the matching linear map about (cx, cy) in pixels
    c, s = math.cos(params.rot_rad), math.sin(params.rot_rad)
    Rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    lin = np.array([[c, -s * fx / fy], [s * fy / fx, c]])
    rot2 = np.empty((2, 3))
    rot2[:, :2] = lin
    rot2[:, 2] = np.array([cx, cy]) - lin @ np.array([cx, cy])
    full_map = affine_compose(rot2, flip2)
    # 3. box
    size = float(bbox_size_px) * params.scale
    center = affine_apply(full_map, np.asarray(bbox_center_px, dtype=np.float64)) + np.asarray(params.shift_frac) * (
        float(bbox_size_px)
    )
    full_to_crop = crop_from_full_map(center, size, crop_size_px)
    crop_to_src = affine_invert(affine_compose(full_to_crop, full_map))
    return AugmentedView(
        cam_map=Rz @ F,
        full_map=full_map,
        fx=fx,
        fy=fy,
        cx=cx,
        cy=cy,
        bbox_center_px=center,
        bbox_size_px=size,
        crop_to_src=crop_to_src,
        full_to_crop=full_to_crop,
        params=params,
    )
