"""OpenPose -> SMPL visibility (against the official mask of stage2_denoiser.npz) and the diffusion pose statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egohmr.data.stats import compute_pose_stats, load_pose_stats, pose_6d_row, pose_stats_for_split, save_pose_stats
from egohmr.data.visibility import openpose_visibility_smpl24


def test_openpose_visibility_default_and_loose():
    kp = torch.ones(2, 25, 3)
    kp[0, :, 2] = 0.0  # nothing detected: only joints driven by MidHip are visible
    kp[1, 13, 2] = 0.0  # LKnee missing
    vis = openpose_visibility_smpl24(kp, loosen=False)
    assert vis.shape == (2, 24) and vis.dtype == torch.bool
    assert vis[0].nonzero().flatten().tolist() == [0, 3, 6, 9]  # pelvis, spine1-3 <- MidHip (forced)
    assert not vis[1, 4] and vis[1, 1]  # left knee hidden; left hip <- OpenPose LHip (default)
    loose = openpose_visibility_smpl24(kp[1], loosen=True)
    assert not loose[1] and not loose[4]  # loosened: left hip takes the knee's visibility
    assert kp[0, 8, 2] == 0  # input not modified
    with pytest.raises(ValueError, match="25"):
        openpose_visibility_smpl24(torch.ones(24, 3), loosen=False)


def test_openpose_visibility_matches_the_official_mask(golden):
    fixture = golden("stage2_denoiser")
    conf = torch.from_numpy(fixture["orig_keypoints_2d"][..., 2])
    loosen = bool(fixture["pelvis_vis_loosen"])
    vis = openpose_visibility_smpl24(conf, loosen=loosen)
    assert torch.equal(vis, torch.from_numpy(fixture["vis_mask_smpl"]))
    assert fixture["orig_keypoints_2d"][0, 8, 2] == 0 and bool(vis[0, 0])  # MidHip forced visible
    strict = openpose_visibility_smpl24(conf, loosen=False)
    assert torch.equal(strict[:, 1], conf[:, 12] > 0)  # left hip <- OpenPose LHip when not loosened
    with_xy = openpose_visibility_smpl24(torch.from_numpy(fixture["orig_keypoints_2d"]), loosen=loosen)
    assert torch.equal(with_xy, vis)  # (..., 25, 3) keypoints or (..., 25) confidences


def test_pose_6d_row_layout_and_stats(tmp_path):
    rng = np.random.default_rng(0)
    go = rng.normal(size=(50, 3))
    bp = rng.normal(scale=0.3, size=(50, 69))
    x = pose_6d_row(go, bp)
    assert x.shape == (50, 144)
    from egohmr.geometry.rotations import axis_angle_to_rotmat

    R = axis_angle_to_rotmat(torch.from_numpy(go[3])).numpy()
    np.testing.assert_allclose(x[3, :6], [R[0, 0], R[0, 1], R[1, 0], R[1, 1], R[2, 0], R[2, 1]], atol=1e-12)
    stats = compute_pose_stats(go, bp)
    np.testing.assert_allclose(stats.x_mean, x.mean(0), atol=1e-6)
    std = x.std(0)
    assert np.allclose(stats.x_std[:6], std[:6].mean()) and np.allclose(stats.x_std[6:], std[6:].mean())
    path = save_pose_stats(tmp_path / "run" / "preprocess_stats", stats)
    assert path.name == "preprocess_stats.npz"
    with np.load(path) as data:
        assert sorted(data.files) == ["Xmean", "Xstd"] and data["Xmean"].dtype == np.float32
    back = load_pose_stats(path.parent)
    np.testing.assert_array_equal(back.x_mean, stats.x_mean)
    with pytest.raises(FileNotFoundError, match="preprocess_stats.npz"):
        load_pose_stats(tmp_path)


def test_pose_stats_for_split(tiny_egobody):
    stats = pose_stats_for_split(tiny_egobody.root, "train")
    assert stats.num_frames == 9 and stats.x_mean.shape == (144,)
