"""Crop maps, image warp, normalisation and the consistency of the augmentation (2D <-> 3D <-> crop content)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from egohmr.constants import SMPL_TO_OPENPOSE
from egohmr.data.augment import (
    AugmentConfig,
    AugmentParams,
    augment_rng,
    flip_permutation,
    identity_params,
    make_view,
    sample_augment_params,
)
from egohmr.data.crop import (
    affine_apply,
    affine_compose,
    affine_invert,
    bbox_from_center_scale,
    crop_from_full_map,
    normalize_crop,
    warp_image,
    warp_image_reference,
)
from egohmr.geometry.cameras import perspective_project
from egohmr.geometry.rotations import axis_angle_to_rotmat

W, H = 320, 240
FX, FY, CX, CY = 300.0, 310.0, 165.0, 118.0


def test_bbox_from_center_scale_official_side():
    c, s = bbox_from_center_scale(np.array([10.0, 20.0]), 1.5)
    assert c.tolist() == [10.0, 20.0]
    assert s == pytest.approx(1.5 * 200 * 1.2)
    with pytest.raises(ValueError, match="center_px"):
        bbox_from_center_scale(np.zeros(3), 1.0)


def test_affine_helpers_roundtrip():
    A = crop_from_full_map([100.0, 50.0], 80.0, 224)
    # box centre -> crop centre S/2, box corners -> crop corners
    assert affine_apply(A, np.array([100.0, 50.0])) == pytest.approx([112.0, 112.0])
    assert affine_apply(A, np.array([60.0, 10.0])) == pytest.approx([0.0, 0.0])
    B = affine_invert(A)
    pts = np.random.default_rng(0).normal(size=(5, 2)) * 50
    assert affine_apply(affine_compose(B, A), pts) == pytest.approx(pts)
    with pytest.raises(ValueError, match="bbox_size_px"):
        crop_from_full_map([0.0, 0.0], 0.0, 224)


def test_warp_pillow_matches_numpy_reference():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    view = make_view(
        AugmentParams(rot_rad=0.4, flip=True, scale=1.1), FX, FY, CX, CY, W, np.array([150.0, 100.0]), 90.0, 48
    )
    fast = warp_image(img, view.crop_to_src, 48).astype(np.float64)
    ref = warp_image_reference(img, view.crop_to_src, 48)
    inner = np.s_[2:-2, 2:-2]  # border pixels may mix in the zero padding differently
    assert np.abs(fast[inner] - ref[inner]).max() <= 2.0


def test_normalize_crop_official_formula():
    crop = np.full((4, 4, 3), 200, dtype=np.uint8)
    out = normalize_crop(crop, color_scale=(1.5, 1.0, 0.5))
    assert out.shape == (3, 4, 4) and out.dtype == np.float32
    expect_r = (255.0 - 255 * 0.485) / (255 * 0.229)  # 200 * 1.5 clipped to 255
    expect_b = (100.0 - 255 * 0.406) / (255 * 0.225)
    assert out[0, 0, 0] == pytest.approx(expect_r, rel=1e-6)
    assert out[2, 3, 3] == pytest.approx(expect_b, rel=1e-6)


def test_flip_permutations_are_involutions_and_match_openpose_map():
    p24, p25 = flip_permutation("smpl24"), flip_permutation("op25")
    assert (p24[p24] == np.arange(24)).all() and (p25[p25] == np.arange(25)).all()
    assert p24[1] == 2 and p24[0] == 0 and p25[2] == 5 and p25[8] == 8
    # flipping the SMPL joints then mapping to OpenPose == mapping then flipping OpenPose (joints < 24 only)
    src = np.array(SMPL_TO_OPENPOSE)
    for k in range(25):
        if src[k] < 24 and src[p25[k]] < 24:
            assert p24[src[k]] == src[p25[k]]
    with pytest.raises(ValueError):
        flip_permutation("coco")


def test_augment_rng_is_per_index_and_sampling_in_range():
    a = sample_augment_params(AugmentConfig(), augment_rng(3, 1, 7))
    b = sample_augment_params(AugmentConfig(), augment_rng(3, 1, 7))
    c = sample_augment_params(AugmentConfig(), augment_rng(3, 2, 7))
    assert a == b and a != c
    draws = [sample_augment_params(AugmentConfig(), augment_rng(0, 0, i)) for i in range(300)]
    assert all(0.7 - 1e-9 <= d.scale <= 1.3 + 1e-9 for d in draws)
    assert all(abs(d.rot_rad) <= math.radians(60) + 1e-9 for d in draws)
    assert all(0.8 <= min(d.color_scale) and max(d.color_scale) <= 1.2 for d in draws)
    assert all(abs(d.shift_frac[0]) <= 0.02 for d in draws)
    frac_flip = np.mean([d.flip for d in draws])
    frac_rot = np.mean([d.rot_rad != 0 for d in draws])
    assert 0.35 < frac_flip < 0.65 and 0.45 < frac_rot < 0.75


def _random_frame(rng: np.random.Generator):
    """A body-like set of 35 points (24 joints + 11 landmarks) in front of the camera, and its SMPL params."""
    pelvis = np.array([rng.uniform(-0.3, 0.3), rng.uniform(-0.2, 0.2), rng.uniform(2.0, 3.0)])
    pts = pelvis + rng.normal(scale=0.25, size=(35, 3))
    pts[0] = pelvis
    kp = np.concatenate([perspective_project(pts[list(SMPL_TO_OPENPOSE)], FX, FY, CX, CY), np.ones((25, 1))], axis=1)
    kp[3, 2] = 0.0  # one undetected keypoint
    R = axis_angle_to_rotmat(torch.from_numpy(rng.normal(scale=0.5, size=(24, 3)))).numpy()
    transl = pelvis - np.array([0.001, -0.2, 0.02])  # pelvis offset of some betas
    return pts, kp, R, transl


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5, 6, 7])
def test_augmented_joints_project_onto_augmented_keypoints(seed):
    rng = np.random.default_rng(seed)
    pts, kp, R, transl = _random_frame(rng)
    params = sample_augment_params(AugmentConfig(), augment_rng(11, 0, seed))
    if seed == 0:
        params = AugmentParams(rot_rad=0.7, flip=True, scale=0.8, shift_frac=(0.01, -0.02))  # both branches
    view = make_view(params, FX, FY, CX, CY, W, np.array([170.0, 110.0]), 150.0, 224)
    joints_aug = view.joints_smpl24(pts[:24])
    landmarks_aug = view.points(pts[24:])
    kp_aug = view.keypoints_op25(kp)
    src = np.array(SMPL_TO_OPENPOSE)
    all_aug = np.concatenate([joints_aug, landmarks_aug])
    if params.flip:  # landmarks are named points too (eyes/ears/toes): swap them by the OpenPose permutation
        p25 = flip_permutation("op25")
        lm_index = {int(src[k]): int(src[p25[k]]) for k in range(25) if src[k] >= 24}
        all_aug[24:] = view.points(pts[[lm_index[24 + j] for j in range(11)]])
    proj = perspective_project(all_aug[src], view.fx, view.fy, view.cx, view.cy)
    np.testing.assert_allclose(proj, kp_aug[:, :2], atol=1e-6)
    assert kp_aug[:, 2].sum() == 24.0  # confidences kept (one zero, moved by the permutation)
    # translation recomputed from the augmented pelvis: pelvis offset unchanged
    t_aug = view.transl(transl, pts[0])
    np.testing.assert_allclose(joints_aug[0] - t_aug, pts[0] - transl, atol=1e-12)
    # global orientation: the body's local axes follow the camera map (mirror-conjugated under a flip)
    G = view.global_orient(R[0])
    F = np.diag([-1.0, 1.0, 1.0]) if params.flip else np.eye(3)
    np.testing.assert_allclose(G, view.cam_map @ R[0] @ F, atol=1e-12)
    assert np.linalg.det(G) == pytest.approx(1.0)
    bp = view.body_pose(R[1:])
    assert bp.shape == (23, 3, 3) and np.allclose(np.linalg.det(bp), 1.0)
    # crop keypoints: box centre at S/2
    ck = view.crop_keypoints(np.array([[*view.bbox_center_px, 1.0]]))
    np.testing.assert_allclose(ck[0, :2], [112.0, 112.0], atol=1e-9)


def test_identity_view_is_identity():
    view = make_view(identity_params(), FX, FY, CX, CY, W, np.array([170.0, 110.0]), 150.0, 224)
    np.testing.assert_allclose(view.cam_map, np.eye(3))
    np.testing.assert_allclose(view.full_map, [[1, 0, 0], [0, 1, 0]])
    assert view.cx == CX


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_crop_content_follows_keypoints(seed):
    """A bright marker drawn at a keypoint of the original image lands at that keypoint's crop position."""
    rng = np.random.default_rng(100 + seed)
    img = np.zeros((H, W, 3), dtype=np.uint8)
    marker = np.array([rng.uniform(140, 200), rng.uniform(80, 140)])
    xi, yi = np.round(marker).astype(int)
    img[yi - 2 : yi + 3, xi - 2 : xi + 3] = 255
    marker = np.array([xi, yi], dtype=np.float64)
    params = sample_augment_params(AugmentConfig(), augment_rng(5, 0, seed))
    params = AugmentParams(params.shift_frac, params.scale, 0.5 * (seed + 1) * (-1) ** seed, seed % 2 == 0)
    view = make_view(params, FX, FY, CX, CY, W, np.array([170.0, 110.0]), 120.0, 96)
    crop = warp_image(img, view.crop_to_src, 96).astype(np.float64)[..., 0]
    kp = view.crop_keypoints(view.keypoints_op25(np.tile([*marker, 1.0], (25, 1))))[0, :2]
    ys, xs = np.nonzero(crop > 0)
    w = crop[ys, xs]
    centroid = np.array([(xs * w).sum() / w.sum(), (ys * w).sum() / w.sum()])
    np.testing.assert_allclose(centroid, kp, atol=0.6)
