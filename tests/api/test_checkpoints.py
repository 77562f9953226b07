"""Shipped inference checkpoints: small, weights-only, loadable through one function, equal to their source."""

from __future__ import annotations

import pytest
import torch

from egohmr.pipeline.checkpoints import (
    SHIPPED_STAGE1,
    SHIPPED_STAGE2,
    export_inference_checkpoint,
    load_stage1,
    load_stage_models,
)
from egohmr.train.checkpoint import build_checkpoint, save_checkpoint


def test_shipped_files_are_small_and_weights_only():
    total = 0
    for path, kind in ((SHIPPED_STAGE1, "egohmr.stage1"), (SHIPPED_STAGE2, "egohmr.stage2")):
        data = torch.load(path, map_location="cpu", weights_only=True)
        total += path.stat().st_size
        assert data["kind"] == kind
        assert data["optimizer"] is None and not data["rng"]
        assert not any(k.startswith("backbone.") for k in data["model"])  # from the weight package
        info = data["extras"]["inference"]
        assert info["backbone_from_package"] is True
        assert info["provenance"]["step"] == data["step"] > 0
    assert "x_mean" in torch.load(SHIPPED_STAGE2, map_location="cpu", weights_only=True)["model"]
    assert total < 40e6


def test_load_stage_models_defaults_to_shipped():
    models = load_stage_models()
    assert "inference" in models.sources["stage1"] and "inference" in models.sources["stage2"]
    assert models.provenance["stage2"]["kind"] == "egohmr.stage2"
    assert not models.stage1.training and not models.stage2.training


def test_export_roundtrip_drops_backbone_and_optimizer(tmp_path):
    """A training-style checkpoint (backbone + optimizer) -> export -> reload: identical weights and outputs."""
    model, _, _, _ = load_stage1(SHIPPED_STAGE1)
    src_data = torch.load(SHIPPED_STAGE1, map_location="cpu", weights_only=True)
    full_state = model.state_dict()
    assert any(k.startswith("backbone.") for k in full_state)
    src = tmp_path / "run" / "best.pt"
    src.parent.mkdir()
    save_checkpoint(
        build_checkpoint(
            kind="egohmr.stage1",
            model_state=full_state,
            step=7,
            config=src_data["config"],
            optimizer_state={"state": {0: {"exp_avg": torch.ones(1000)}}, "param_groups": []},
        ),
        src,
    )
    out = tmp_path / "stage1.pt"
    prov = export_inference_checkpoint(src, out, note="test")
    assert prov["backbone_from_package"] is True and prov["step"] == 7
    assert out.stat().st_size < src.stat().st_size
    reloaded, _, desc, prov2 = load_stage1(out)
    assert "inference" in desc and prov2["note"] == "test"
    for key, value in full_state.items():
        assert torch.equal(reloaded.state_dict()[key], value), key
    # re-exporting a shipped file keeps the package backbone
    again = tmp_path / "again.pt"
    assert export_inference_checkpoint(out, again)["backbone_from_package"] is True
    load_stage1(again)


def test_stage_export_and_load_refuse_the_other_stage(tmp_path):
    """Each stage's `checkpoint.export` / `checkpoint.load` takes only its own stage's files."""
    from egohmr.stage1 import checkpoint as stage1_checkpoint
    from egohmr.stage2 import checkpoint as stage2_checkpoint

    with pytest.raises(ValueError, match="not one of"):
        stage1_checkpoint.export(SHIPPED_STAGE2, tmp_path / "out.pt")
    with pytest.raises(ValueError, match="other stage"):
        stage2_checkpoint.load(SHIPPED_STAGE1)
    assert stage2_checkpoint.export(SHIPPED_STAGE2, tmp_path / "stage2.pt")["kind"] == "egohmr.stage2"
