"""OpenPose -> SMPL visibility, image-bounds visibility, and the diffusion pose statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egohmr.data.stats import compute_pose_stats, load_pose_stats, pose_6d_row, pose_stats_for_split, save_pose_stats
from egohmr.data.visibility import in_image_visibility, openpose_visibility_smpl24


def test_openpose_visibility_default_and_loose():
    kp = torch.ones(2, 25, 3)
    kp[0, :, 2] = 0.0  # nothing detected: only joints driven by MidHip are visible
    kp[1, 13, 2] = 0.0  # LKnee missing
    vis = openpose_visibility_smpl24(kp)
    assert vis.shape == (2, 24) and vis.dtype == torch.bool
    assert vis[0].nonzero().flatten().tolist() == [0, 3, 6, 9]  # pelvis, spine1-3 <- MidHip (forced)
    assert not vis[1, 4] and vis[1, 1]  # left knee hidden; left hip <- OpenPose LHip (default)
    loose = openpose_visibility_smpl24(kp[1], loosen=True)
    assert not loose[1] and not loose[4]  # loosened: left hip takes the knee's visibility
    assert kp[0, 8, 2] == 0  # input not modified
    with pytest.raises(ValueError, match="25"):
        openpose_visibility_smpl24(torch.ones(24, 3))


def test_in_image_visibility_official_and_front():
    pts = torch.tensor([[[0.0, 0.0, 2.0], [5.0, 0.0, 1.0], [0.0, 0.0, -2.0], [-0.5, -0.3, 1.0]]])
    vis = in_image_visibility(pts, 100.0, 100.0, 50.0, 40.0, 100, 80)
    # (50, 40) in; (550, 40) out; behind camera projects to (50, 40): in (official); (0, 10) in (u >= 0)
    assert vis.tolist() == [[True, False, True, True]]
    vis_front = in_image_visibility(pts, 100.0, 100.0, 50.0, 40.0, 100, 80, require_front=True)
    assert vis_front.tolist() == [[True, False, False, True]]


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
