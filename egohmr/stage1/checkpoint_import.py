"""Loading stage-1 weights: our checkpoints, the official EgoHMR stage-1 file and ProHMR's backbone.

- Ours: `egohmr.train` checkpoints of kind "egohmr.stage1"; the architecture comes from the stored config.
- Official stage 1 (`checkpoints_egohmr/53618/best_model.pt`): a plain `{'state_dict': ...}` whose keys are, by prefix
  (reference-egohmr.md section 6): `initialized`, `backbone.` (ResNet-50), `flow.` (SMPLFlow), `scene_enc.`
  (ResNet-PointNet), `discriminator.` and `smpl.`, `smpl_male.`, `smpl_female.` (body-model buffers). `ProHMRScene`
  uses the same names, so the mapping is the identity on the first five prefixes; the `smpl*` keys are dropped (the
  official test drops them too) and `discriminator.*` is dropped when no adversarial prior is configured.
- ProHMR (`checkpoints.pt`, a PyTorch-Lightning file): only `state_dict['backbone.*']` is used, to initialise the
  ResNet-50 backbone.
Every key that is not loaded is reported by name; missing weights or wrong shapes are errors.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from egohmr.config.core import config_from_dict
from egohmr.safe_load import read_torch_file
from egohmr.stage1.config import CHECKPOINT_KIND, Stage1Config, official_preset
from egohmr.stage1.model import ProHMRScene
from egohmr.train.checkpoint import CheckpointError, KeyMismatch, load_checkpoint, report_key_mismatch

__all__ = [
    "ImportReport",
    "OFFICIAL_IGNORED_PREFIXES",
    "detect_checkpoint",
    "import_official_stage1",
    "load_prohmr_backbone",
    "load_stage1_model",
    "read_state_dict_file",
]

logger = logging.getLogger(__name__)

OFFICIAL_IGNORED_PREFIXES: tuple[str, ...] = ("smpl.", "smpl_male.", "smpl_female.")
"""Official stage-1 keys that hold body-model buffers (our body models live outside the state dict)."""

CheckpointType = Literal["ours", "official-stage1", "official-stage2", "prohmr", "unknown"]


@dataclasses.dataclass(frozen=True)
class ImportReport:
    """What an import loaded and left out, by key name."""

    loaded: tuple[str, ...]
    ignored: tuple[str, ...]
    """Keys deliberately dropped (body-model buffers, discriminator without a prior, non-backbone ProHMR keys)."""
    unexpected: tuple[str, ...]
    """Keys the model does not have (not loaded)."""

    def summary(self) -> str:
        text = f"{len(self.loaded)} tensors loaded, {len(self.ignored)} ignored"
        if self.ignored:
            prefixes = sorted({k.split(".")[0] for k in self.ignored})
            text += f" (prefixes {prefixes})"
        if self.unexpected:
            text += f", {len(self.unexpected)} unexpected: {list(self.unexpected)}"
        return text


# ------------------------------------------------------------------------------------------------ reading files
def read_state_dict_file(path: str | Path) -> Any:
    """Load a `.pt`/`.ckpt` file onto the CPU as data only (`egohmr.safe_load.read_torch_file`): tensors-only files
    with `weights_only=True`, Lightning files (pickled hyper-parameters) through an allow-list unpickler.

    Raises:
        FileNotFoundError: no such file. CheckpointError: truncated, corrupt or not a PyTorch file.
        UnsafeFileError: the file names a class or function that checkpoints do not hold.
    """
    return read_torch_file(path)


def detect_checkpoint(data: Any) -> CheckpointType:
    """Classify a loaded checkpoint object (see the module docstring)."""
    if not isinstance(data, Mapping):
        return "unknown"
    if "format_version" in data and "kind" in data:
        return "ours"
    state = data.get("state_dict")
    if not isinstance(state, Mapping):
        return "unknown"
    names = [str(k) for k in state]
    if "pytorch-lightning_version" in data or "global_step" in data or "epoch" in data:
        return "prohmr"
    if any(n.startswith("diffusion_model.") for n in names):
        return "official-stage2"
    if any(n.startswith("flow.flow.") for n in names):
        return "official-stage1"
    return "unknown"


# ------------------------------------------------------------------------------------------------ importers
def import_official_stage1(
    source: str | Path | Mapping[str, torch.Tensor], model: ProHMRScene, strict_unexpected: bool = False
) -> ImportReport:
    """Load the official stage-1 weights into `model` (which must have the official architecture).

    Args:
        source: path of `best_model.pt`, or its `state_dict` (or the `{'state_dict': ...}` dict) already loaded.
        model: target `ProHMRScene` (ResNet-50, official sizes).
        strict_unexpected: raise on keys the model lacks instead of reporting them.

    Returns:
        ImportReport (also logged).

    Raises:
        CheckpointError: not an official stage-1 file (e.g. stage 2 or ProHMR), missing weights or shape mismatches
            (listed by key).
    """
    where = str(source) if isinstance(source, str | Path) else "official stage-1 state dict"
    data = read_state_dict_file(source) if isinstance(source, str | Path) else source
    kind = detect_checkpoint(data) if "state_dict" in data else "official-stage1"
    if kind != "official-stage1":
        hint = {
            "official-stage2": "it is an official stage-2 (EgoHMR diffusion) checkpoint",
            "prohmr": "it is a ProHMR Lightning checkpoint; use it for backbone initialisation "
            "(model.prohmr_checkpoint)",
            "ours": "it is an egohmr checkpoint; load it with load_stage1_model",
        }.get(kind, "it has no `state_dict` with `flow.flow.*` keys")
        raise CheckpointError(f"{where} is not an official EgoHMR stage-1 checkpoint: {hint}")
    state = dict(data["state_dict"] if "state_dict" in data else data)
    ignored = [k for k in state if k.startswith(OFFICIAL_IGNORED_PREFIXES)]
    if model.discriminator is None:
        ignored += [k for k in state if k.startswith("discriminator.")]
    mapped = {k: v for k, v in state.items() if k not in set(ignored)}
    report = report_key_mismatch(model, mapped)
    if report.missing or report.shape_mismatch or (strict_unexpected and report.unexpected):
        raise CheckpointError(f"{where} does not fit ProHMRScene({model.cfg.backbone}):\n{report.summary()}")
    loadable = {k: v for k, v in mapped.items() if k not in set(report.unexpected)}
    model.load_state_dict(loadable, strict=True)
    result = ImportReport(loaded=tuple(sorted(loadable)), ignored=tuple(sorted(ignored)), unexpected=report.unexpected)
    logger.info("imported %s: %s", where, result.summary())
    return result


def load_prohmr_backbone(path: str | Path, backbone: nn.Module) -> KeyMismatch:
    """Initialise a ResNet-50 backbone from ProHMR's `checkpoints.pt` (`state_dict['backbone.*']` only).

    Returns:
        The key comparison for the backbone (empty when everything matched).

    Raises:
        FileNotFoundError: missing file (config key model.prohmr_checkpoint). CheckpointError: unreadable file, no
            `backbone.*` keys, or missing / mis-shaped backbone weights.
    """
    data = read_state_dict_file(path)
    state = data.get("state_dict") if isinstance(data, Mapping) else None
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: no `state_dict` (expected ProHMR's Lightning checkpoint, checkpoints.pt)")
    sub = {k[len("backbone.") :]: v for k, v in state.items() if str(k).startswith("backbone.")}
    if not sub:
        raise CheckpointError(f"{path}: no `backbone.*` keys in its state_dict (found e.g. {list(state)[:3]})")
    report = report_key_mismatch(backbone, sub)
    if report.missing or report.shape_mismatch:
        raise CheckpointError(f"{path}: backbone weights do not fit {type(backbone).__name__}:\n{report.summary()}")
    backbone.load_state_dict({k: v for k, v in sub.items() if k not in set(report.unexpected)}, strict=True)
    skipped = len(state) - len(sub)
    logger.info("backbone initialised from %s (%d tensors; %d non-backbone keys ignored)", path, len(sub), skipped)
    return report


def load_stage1_model(path: str | Path) -> tuple[ProHMRScene, Stage1Config, CheckpointType]:
    """Build a `ProHMRScene` from our checkpoint or the official stage-1 file (eval mode, CPU, no body models).

    Returns:
        (model, config, "ours" | "official-stage1"). For the official file the config is the `official` preset.

    Raises:
        FileNotFoundError, CheckpointError: missing, corrupt, foreign or other-stage file (the message says which).
    """
    path = Path(path)
    data = read_state_dict_file(path)
    kind = detect_checkpoint(data)
    if kind == "ours":
        ckpt = load_checkpoint(path, expected_kind=CHECKPOINT_KIND)
        cfg = config_from_dict(Stage1Config, ckpt.config)
        model_cfg = dataclasses.replace(cfg.model, backbone_pretrained=False, prohmr_checkpoint=None)
        model = ProHMRScene(model_cfg, cfg.loss)
        report = report_key_mismatch(model, ckpt.model)
        if not report.ok:
            raise CheckpointError(f"{path} does not fit the model its config describes:\n{report.summary()}")
        model.load_state_dict(ckpt.model, strict=True)
        return model.eval(), cfg, kind
    if kind == "official-stage1":
        cfg = official_preset()
        model = ProHMRScene(cfg.model, cfg.loss)
        import_official_stage1(data, model)
        return model.eval(), cfg, kind
    if kind == "official-stage2":
        raise CheckpointError(f"{path} is an official stage-2 checkpoint; stage-1 testing needs a stage-1 checkpoint")
    if kind == "prohmr":
        raise CheckpointError(
            f"{path} is a ProHMR Lightning checkpoint: it only initialises the backbone (model.prohmr_checkpoint), "
            "it is not a stage-1 model"
        )
    raise CheckpointError(f"{path} is neither an egohmr stage-1 checkpoint nor an official EgoHMR stage-1 file")
