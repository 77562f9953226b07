"""Checkpoint files (`.pt`): our format, the official EgoHMR `{'state_dict': ...}` files and ProHMR's Lightning file.
A payload in any of them is refused by every loader, whatever the pickle protocol; legitimate files still load."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from egohmr.models.resnet import ResNet50
from egohmr.pipeline.checkpoints import SHIPPED_STAGE1, SHIPPED_STAGE2, load_stage1, load_stage2
from egohmr.safe_load import CheckpointError, ConfigDict, UnsafeFileError, read_torch_file
from egohmr.stage1 import checkpoint as stage1_checkpoint
from egohmr.stage2 import checkpoint as stage2_checkpoint
from egohmr.train.checkpoint import load_checkpoint
from egohmr.train.checkpoint_files import read_state_dict_file
from tests.security.payloads import (
    PAYLOADS,
    PROTOCOLS,
    CfgNode,
    ModelCheckpoint,
    Payload,
    assert_refused,
    importable,
)

pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol")


def _ours(payload: Any) -> dict[str, Any]:
    return {
        "format_version": 1,
        "kind": "egohmr.stage1",
        "model": {"w": torch.zeros(2)},
        "step": 1,
        "config": {"model": payload},
    }


def _official_stage1(payload: Any) -> dict[str, Any]:
    return {"state_dict": {"flow.flow._transform.x": torch.zeros(2), "initialized": payload}}


def _official_stage2(payload: Any) -> dict[str, Any]:
    return {"state_dict": {"diffusion_model.gconv_input.W": torch.zeros(2)}, "epoch": payload}


def _lightning(payload: Any) -> dict[str, Any]:
    cfg = CfgNode(MODEL=CfgNode(BACKBONE="resnet", EVIL=payload))
    return {"state_dict": {"backbone.conv1.weight": torch.zeros(1)}, "epoch": 3, "hyper_parameters": {"cfg": cfg}}


FILES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "ours": _ours,
    "official_stage1": _official_stage1,
    "official_stage2": _official_stage2,
    "prohmr_lightning": _lightning,
}
LOADERS: dict[str, Callable[[Path], Any]] = {
    "read_torch_file": read_torch_file,
    "stage1_state_dict_file": read_state_dict_file,
    "stage1_checkpoint_load": stage1_checkpoint.load,
    "stage2_checkpoint_load": stage2_checkpoint.load,
    "load_prohmr_backbone": lambda path: stage1_checkpoint.load_prohmr_backbone(path, ResNet50()),
    "pipeline_load_stage1": load_stage1,
    "pipeline_load_stage2": load_stage2,
    "import_official_stage2": stage2_checkpoint.import_official_stage2,
}


def _save(tmp_path: Path, content: dict[str, Any], protocol: int) -> Path:
    path = tmp_path / "evil.pt"
    with importable(CfgNode):
        torch.save(content, path, pickle_protocol=protocol)
    return path


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.id)
@pytest.mark.parametrize("layout", sorted(FILES))
def test_read_torch_file_refuses_payloads(tmp_path, layout: str, payload: Payload, protocol: int):
    marker = tmp_path / "marker"
    path = _save(tmp_path, FILES[layout](payload.build(marker)), protocol)
    if protocol == 0:  # torch cannot read protocol-0 files at all (string persistent ids): an unreadable file
        with pytest.raises(CheckpointError, match=r"evil\.pt could not be read"):
            read_torch_file(path)
        assert not marker.exists()
        return
    with pytest.raises(UnsafeFileError) as info:
        read_torch_file(path)
    assert_refused(info.value, path, payload.refused, marker)


@pytest.mark.parametrize("loader", sorted(LOADERS))
@pytest.mark.parametrize("layout", sorted(FILES))
def test_every_checkpoint_loader_refuses_payloads(tmp_path, layout: str, loader: str):
    payload = PAYLOADS[0]
    marker = tmp_path / "marker"
    path = _save(tmp_path, FILES[layout](payload.build(marker)), 2)
    with pytest.raises(UnsafeFileError) as info:
        LOADERS[loader](path)
    assert_refused(info.value, path, payload.refused, marker)


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.id)
def test_training_resume_refuses_payloads(tmp_path, payload: Payload):
    """`load_checkpoint` (resume, stage-2 test) reads tensors only (`weights_only=True`)."""
    marker = tmp_path / "marker"
    path = _save(tmp_path, _ours(payload.build(marker)), 2)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert_refused(info.value, path, payload.refused, marker)


def test_build_on_an_allowed_function_is_refused(tmp_path):
    """A pickle may not set attributes of the functions it is allowed to call (BUILD on a global)."""
    path = tmp_path / "tamper.pt"
    torch.save({"state_dict": {}}, path)
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    data_pkl = next(name for name in members if name.endswith("data.pkl"))
    members[data_pkl] = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n}b."
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    with pytest.raises(UnsafeFileError, match=r"tamper\.pt.*modify torch\._utils\._rebuild_tensor_v2"):
        read_torch_file(path)


@pytest.mark.parametrize("protocol", PROTOCOLS[1:])
def test_lightning_file_loads_with_config_nodes_as_dicts(tmp_path, protocol):
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    with importable(CfgNode, ModelCheckpoint):
        cfg = CfgNode(MODEL=CfgNode(BACKBONE="resnet"), TRAIN=CfgNode(LR=1e-4))
        cfg.__dict__["__immutable__"] = True  # yacs keeps its flags in the instance dict
        content = {
            "state_dict": {f"backbone.{k}": v for k, v in model.state_dict().items()},
            "epoch": 3,
            "global_step": 1000,
            "pytorch-lightning_version": "1.4.9",
            "callbacks": {ModelCheckpoint: {"best_model_score": torch.tensor(0.5), "best_model_path": "best.ckpt"}},
            "optimizer_states": [optimizer.state_dict()],
            "lr_schedulers": [],
            "hyper_parameters": {"cfg": cfg},
        }
        path = tmp_path / "checkpoints.pt"
        torch.save(content, path, pickle_protocol=protocol)
    data = read_torch_file(path)
    cfg_loaded = data["hyper_parameters"]["cfg"]
    assert isinstance(cfg_loaded, ConfigDict) and cfg_loaded == {"MODEL": {"BACKBONE": "resnet"}, "TRAIN": {"LR": 1e-4}}
    torch.testing.assert_close(data["state_dict"]["backbone.weight"], model.weight.detach())
    assert data["optimizer_states"][0]["param_groups"][0]["lr"] == optimizer.param_groups[0]["lr"]


@pytest.mark.parametrize("path", [SHIPPED_STAGE1, SHIPPED_STAGE2], ids=["stage1", "stage2"])
def test_shipped_checkpoints_load(path):
    if not path.is_file():
        pytest.fail(f"shipped checkpoint missing: {path}")
    data = read_torch_file(path)
    assert data["kind"] in ("egohmr.stage1", "egohmr.stage2") and data["model"]
    assert load_checkpoint(path).step == data["step"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_archive_is_refused(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    with pytest.raises(UnsafeFileError, match=r"scripted\.pt.*TorchScript"):
        read_torch_file(path)
