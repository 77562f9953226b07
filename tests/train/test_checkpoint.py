"""Checkpoint format: round trip, clear errors for missing / corrupt / foreign / wrong-kind files, key reports."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from egohmr.train import (
    FORMAT_VERSION,
    CheckpointError,
    build_checkpoint,
    load_checkpoint,
    load_state_dict_checked,
    report_key_mismatch,
    save_checkpoint,
)
from egohmr.train.rng import capture_rng_state


def _net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def _payload(kind: str = "egohmr.stage1") -> dict:
    net = _net()
    optimizer = torch.optim.AdamW(net.parameters())
    net(torch.randn(5, 3)).sum().backward()
    optimizer.step()
    return build_checkpoint(
        kind=kind,
        model_state=net.state_dict(),
        optimizer_state=optimizer.state_dict(),
        scaler_state={},
        step=7,
        best={"metric": "loss", "mode": "min", "value": 0.5, "step": 6},
        config={"train": {"lr": 1e-4, "out_dir": "runs/x"}, "model": {"width": [1, 2]}},
        extras={"pose_mean": torch.arange(6.0, dtype=torch.float64)},
        rng=[capture_rng_state()],
    )


def test_round_trip_keeps_every_field(tmp_path):
    payload = _payload()
    save_checkpoint(payload, tmp_path / "c.pt")
    ckpt = load_checkpoint(tmp_path / "c.pt", expected_kind="egohmr.stage1")
    assert ckpt.format_version == FORMAT_VERSION and ckpt.kind == "egohmr.stage1" and ckpt.step == 7
    assert ckpt.best == payload["best"] and ckpt.config == payload["config"]
    for key, value in payload["model"].items():
        assert torch.equal(ckpt.model[key], value)
    assert torch.equal(ckpt.extras["pose_mean"], payload["extras"]["pose_mean"])
    assert ckpt.extras["pose_mean"].dtype == torch.float64
    assert torch.equal(ckpt.rng[0]["torch"], payload["rng"][0]["torch"])
    assert ckpt.rng[0]["python"] == payload["rng"][0]["python"]
    assert ckpt.optimizer["param_groups"] == payload["optimizer"]["param_groups"]


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError, match="is a folder"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("keep", [0.5, 0.95, 0.0])
def test_truncated_file_is_reported_as_corrupt(tmp_path, keep):
    save_checkpoint(_payload(), tmp_path / "full.pt")
    data = (tmp_path / "full.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "cut.pt")


def test_garbage_bytes_inside_a_zip_are_reported_as_corrupt(tmp_path):
    save_checkpoint(_payload(), tmp_path / "full.pt")
    data = bytearray((tmp_path / "full.pt").read_bytes())
    data[200:400] = b"\x00" * 200  # damage the first entry, keep the zip directory
    (tmp_path / "bad.pt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "bad.pt")


def test_official_stage1_and_stage2_files_are_named(tmp_path):
    torch.save({"state_dict": {"flow.flow._transform.x": torch.zeros(2), "backbone.conv1.weight": torch.zeros(1)}},
               tmp_path / "s1.pt")  # fmt: skip
    torch.save({"state_dict": {"diffusion_model.gconv_input.0.gconv.W": torch.zeros(2)}}, tmp_path / "s2.pt")
    with pytest.raises(CheckpointError, match="official EgoHMR stage-1 checkpoint.*importer"):
        load_checkpoint(tmp_path / "s1.pt")
    with pytest.raises(CheckpointError, match="official EgoHMR stage-2 checkpoint.*preprocess_stats"):
        load_checkpoint(tmp_path / "s2.pt")


def test_lightning_and_other_foreign_files(tmp_path):
    torch.save({"state_dict": {"backbone.x": torch.zeros(1)}, "pytorch-lightning_version": "1.5", "epoch": 3},
               tmp_path / "pl.pt")  # fmt: skip
    with pytest.raises(CheckpointError, match="PyTorch-Lightning"):
        load_checkpoint(tmp_path / "pl.pt")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(CheckpointError, match="holds a Tensor"):
        load_checkpoint(tmp_path / "tensor.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "dict.pt")
    with pytest.raises(CheckpointError, match="no `format_version`.*weights"):
        load_checkpoint(tmp_path / "dict.pt")
    (tmp_path / "obj.pt").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="not a complete PyTorch checkpoint"):
        load_checkpoint(tmp_path / "obj.pt")


class _Opaque:
    pass


def test_pickled_objects_are_not_unpickled(tmp_path):
    torch.save({"state_dict": {}, "hyper_parameters": _Opaque()}, tmp_path / "objs.pt")
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        load_checkpoint(tmp_path / "objs.pt")


def test_wrong_kind_and_newer_version(tmp_path):
    save_checkpoint(_payload("egohmr.stage2"), tmp_path / "s2.pt")
    with pytest.raises(CheckpointError, match="'egohmr.stage2' checkpoint but a 'egohmr.stage1'"):
        load_checkpoint(tmp_path / "s2.pt", expected_kind="egohmr.stage1")
    payload = _payload()
    payload["format_version"] = FORMAT_VERSION + 1
    torch.save(payload, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(tmp_path / "new.pt")


def test_key_mismatch_lists_names_and_shapes():
    net = _net()
    state = dict(net.state_dict())
    del state["0.bias"]
    state["head.weight"] = torch.zeros(2)
    state["2.weight"] = torch.zeros(3, 4)
    report = report_key_mismatch(net, state)
    assert report.missing == ("0.bias",)
    assert report.unexpected == ("head.weight",)
    assert report.shape_mismatch == (("2.weight", (2, 4), (3, 4)),)
    text = report.summary()
    assert "0.bias" in text and "head.weight" in text and "2.weight: [2, 4] vs [3, 4]" in text
    with pytest.raises(CheckpointError, match="0.bias"):
        load_state_dict_checked(net, state, source="x.pt")
    # Non-strict loading takes what fits and reports the rest; ignored prefixes are neither loaded nor reported.
    state["1.weight"] = torch.full((4,), 7.0)
    report = load_state_dict_checked(net, state, strict=False, ignore_prefixes=("head",))
    assert report.unexpected == () and torch.equal(net[1].weight.detach(), torch.full((4,), 7.0))
    assert report_key_mismatch(net, net.state_dict()).ok
