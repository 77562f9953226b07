"""Official checkpoint import: the golden recipe weights saved in the official layout reproduce the golden outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egohmr.data.visibility import openpose_visibility_smpl24
from egohmr.models.denoiser import camera_condition
from egohmr.stage2.checkpoint import import_official_stage2, official_stage2_state_dict
from tests.official_files import golden_stage2_state_dict, write_official_stage2


@pytest.fixture(scope="module")
def imported(golden, tmp_path_factory):
    fx = golden("stage2_denoiser")
    folder = tmp_path_factory.mktemp("91453")
    path = write_official_stage2(golden, folder)  # official layout: <run>/preprocess_stats/preprocess_stats.npz
    state = golden_stage2_state_dict(golden)
    return fx, state, import_official_stage2(path).eval()


def test_weights_and_statistics_are_imported(imported):
    fx, state, model = imported
    ours = model.state_dict()
    for key in ("backbone.layer4.2.conv3.weight", "scene_enc.fc_c.weight"):
        assert torch.equal(ours[key], state[key])
    assert torch.equal(
        ours["denoiser.diffusion_model.gconv_input.0.gconv.W"], state["diffusion_model.gconv_input.0.gconv.W"]
    )
    np.testing.assert_array_equal(model.x_mean.numpy(), fx["body_rep_mean"].astype(np.float32))
    np.testing.assert_array_equal(model.x_std.numpy(), fx["body_rep_std"].astype(np.float32))


def test_imported_model_reproduces_the_golden_denoiser(imported):
    fx, _, model = imported

    def t32(name):
        return torch.from_numpy(fx[name]).float()

    cam = camera_condition(t32("fx_norm") * 1500.0, t32("cam_cx"), t32("cam_cy"), t32("box_center"), t32("box_size"))
    vis = openpose_visibility_smpl24(torch.from_numpy(fx["orig_keypoints_2d"][..., 2]), loosen=True)
    with torch.no_grad():
        cond = model.denoiser.encode_condition(t32("img_feat"), t32("scene_feat"), t32("transl"), cam)
        fused = model.denoiser.denoise_fused(t32("x_t"), torch.from_numpy(fx["t"]), cond, vis)
        rotmat, pose_6d = model.decode(fused)
        betas = model.denoiser.predict_betas(cond)
    np.testing.assert_allclose(fused.reshape(3, 144).numpy(), fx["pred_x_start_fused_f32"], rtol=0, atol=2e-6)
    np.testing.assert_allclose(pose_6d.reshape(3, 144).numpy(), fx["pred_pose_6d_fused_f32"], rtol=0, atol=2e-6)
    np.testing.assert_allclose(rotmat.numpy(), fx["pred_rotmat_fused_f32"], rtol=0, atol=2e-5)
    np.testing.assert_allclose(betas.numpy(), fx["pred_betas_f32"], rtol=0, atol=3e-6)


def test_missing_statistics_are_reported(tmp_path):
    torch.save({"state_dict": {"diffusion_model.x": torch.zeros(1)}}, tmp_path / "best_model_mpjpe_vis.pt")
    with pytest.raises(FileNotFoundError, match="preprocess_stats"):
        import_official_stage2(tmp_path / "best_model_mpjpe_vis.pt")
    with pytest.raises(FileNotFoundError, match="not found"):
        import_official_stage2(tmp_path / "missing.pt")


def test_body_model_keys_are_ignored(imported):
    _, state, _ = imported
    ours, ignored = official_stage2_state_dict(state)
    assert "smpl.coap.encoder.fc_pos.weight" in ignored and not any(k.startswith("smpl") for k in ours)
