"""Official stage-1 checkpoint import (golden round trip), ProHMR backbone initialisation, bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egohmr.models.resnet import ResNet50
from egohmr.stage1.checkpoint import import_official_stage1, load, load_prohmr_backbone, load_with_source
from egohmr.stage1.config import official_preset
from egohmr.stage1.model import ProHMRScene
from egohmr.train.checkpoint import CheckpointError, build_checkpoint, save_checkpoint
from tests.official_files import golden_stage1_state_dict
from tests.security.payloads import CfgNode, importable


@pytest.fixture(scope="module")
def official_file(golden, tmp_path_factory):
    """An official-layout `{'state_dict': ...}` built with the golden recipe, saved like best_model.pt."""
    state = golden_stage1_state_dict(golden)
    path = tmp_path_factory.mktemp("official") / "best_model.pt"
    torch.save({"state_dict": state}, path)
    return path, state


def test_official_import_reproduces_golden_flow_and_pointnet(official_file, golden):
    path, state = official_file
    loaded = load_with_source(path)
    model, cfg, kind = loaded.model, loaded.cfg, loaded.kind
    assert kind == "official-stage1" and cfg.model.context_dim == 2566
    torch.testing.assert_close(
        model.backbone.state_dict()["layer4.2.conv3.weight"], state["backbone.layer4.2.conv3.weight"]
    )
    fx = golden("stage1_flow")
    model = model.double().eval()
    ctx = torch.from_numpy(fx["context"]).double()
    batch = {
        "fx": torch.from_numpy(fx["cam_fx"]),
        "cx": torch.from_numpy(fx["cam_cx"]),
        "cy": torch.from_numpy(fx["cam_cy"]),
        "bbox_center_px": torch.from_numpy(fx["bbox_center"]),
        "bbox_size_px": torch.from_numpy(fx["bbox_size"]),
    }
    z = torch.from_numpy(fx["z"]).double()
    with torch.no_grad():
        out = model.predict(ctx, batch, 3, z=z[:, 1:])
    np.testing.assert_allclose(out.pose_6d.numpy(), fx["sample_pose6d_f64"], atol=1e-10, rtol=0)
    np.testing.assert_allclose(out.pose_rotmat.numpy(), fx["sample_rotmat_f64"], atol=1e-10, rtol=0)
    np.testing.assert_allclose(out.betas.numpy(), fx["sample_betas_f64"], atol=1e-12, rtol=0)
    np.testing.assert_allclose(out.cam_crop.numpy(), fx["sample_cam_f64"], atol=1e-12, rtol=0)
    np.testing.assert_allclose(out.transl_full_pv.numpy(), fx["sample_cam_t_full_f64"], atol=1e-10, rtol=0)
    # log-prob: the official float64 run rounds ActNorm log-dets to float32 (docs/models_stage1.md)
    np.testing.assert_allclose(out.log_prob.numpy(), fx["sample_logprob_f64"], rtol=1e-7, atol=0)
    with torch.no_grad():
        lp = model.flow.log_prob(torch.from_numpy(fx["pose6d_prohmr"]).double(), ctx)
    np.testing.assert_allclose(lp.numpy(), fx["logprob_f64"][:, 0], rtol=1e-7, atol=0)
    pn = golden("pointnet")
    with torch.no_grad():
        feat = model.scene_enc(torch.from_numpy(pn["points"]))
    np.testing.assert_allclose(feat.numpy(), pn["feat_f64"], atol=1e-12, rtol=0)


def test_official_import_reports_ignored_and_missing_keys(official_file):
    _, state = official_file
    model = ProHMRScene(official_preset().model)
    report = import_official_stage1({"state_dict": state}, model)
    assert "smpl_male.v_template" in report.ignored and "discriminator.D_conv1.weight" in report.ignored
    assert report.unexpected == ()
    broken = {k: v for k, v in state.items() if k != "scene_enc.fc_c.weight"}
    with pytest.raises(CheckpointError, match=r"scene_enc\.fc_c\.weight"):
        import_official_stage1({"state_dict": broken}, ProHMRScene(official_preset().model))
    extra = dict(state, **{"flow.extra_key": torch.zeros(1)})
    report = import_official_stage1({"state_dict": extra}, ProHMRScene(official_preset().model))
    assert report.unexpected == ("flow.extra_key",)


def test_prohmr_lightning_backbone(tmp_path):
    source = ResNet50()
    state = {f"backbone.{k}": v for k, v in source.state_dict().items()}
    state["flow.flow._transform.dummy_buffer"] = torch.tensor(1.0)
    path = tmp_path / "checkpoints.pt"
    with importable(CfgNode):  # ProHMR pickles its yacs config; the importer must not need yacs
        torch.save(
            {"state_dict": state, "epoch": 3, "hyper_parameters": {"cfg": CfgNode(MODEL={"BACKBONE": "x"})}}, path
        )
    target = ResNet50()
    report = load_prohmr_backbone(path, target)
    assert report.ok
    torch.testing.assert_close(target.state_dict()["conv1.weight"], source.state_dict()["conv1.weight"])
    with pytest.raises(CheckpointError, match="ProHMR Lightning"):
        load(path)


def test_foreign_corrupt_and_other_stage_files(tmp_path, official_file):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load(junk)
    good, _ = official_file
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        load(truncated)
    stage2 = tmp_path / "stage2.pt"
    torch.save({"state_dict": {"diffusion_model.gconv_output.W": torch.zeros(2)}}, stage2)
    with pytest.raises(CheckpointError, match="stage-2"):
        load(stage2)
    ours2 = tmp_path / "ours_stage2.pt"
    save_checkpoint(build_checkpoint(kind="egohmr.stage2", model_state={}, step=1, config={}), ours2)
    with pytest.raises(CheckpointError, match="other stage"):
        load(ours2)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.pt")
