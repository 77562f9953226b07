"""Stage-1 checkpoints: `load` any stage-1 file, `export` an inference file, import official and ProHMR weights.

`load` decides by what the file holds (`egohmr.train.checkpoint_files.detect_checkpoint`):
- Ours: `egohmr.train` checkpoints of kind "egohmr.stage1", training or shipped (`egohmr.train.inference_checkpoint`);
  the architecture comes from the stored config.
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
from typing import Any

import torch
from torch import nn

from egohmr.stage1.config import CHECKPOINT_KIND, Stage1Config, official_preset
from egohmr.stage1.model import ProHMRScene
from egohmr.train.checkpoint import CheckpointError, KeyMismatch, report_key_mismatch
from egohmr.train.checkpoint_files import detect_checkpoint, read_state_dict_file
from egohmr.train.inference_checkpoint import LoadedStage, export_inference_checkpoint, load_our_checkpoint

__all__ = [
    "ImportReport",
    "OFFICIAL_IGNORED_PREFIXES",
    "export",
    "import_official_stage1",
    "load",
    "load_prohmr_backbone",
    "load_with_source",
]

logger = logging.getLogger(__name__)

OFFICIAL_IGNORED_PREFIXES: tuple[str, ...] = ("smpl.", "smpl_male.", "smpl_female.")
"""Official stage-1 keys that hold body-model buffers (our body models live outside the state dict)."""


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
            "ours": "it is an egohmr checkpoint; load it with egohmr.stage1.checkpoint.load",
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


def _untrained_model(cfg: Stage1Config, backbone_from_package: bool) -> tuple[ProHMRScene, Stage1Config]:
    """`ProHMRScene` of a stored config; no ProHMR initialisation (the weights come from the file)."""
    model_cfg = dataclasses.replace(cfg.model, backbone_pretrained=backbone_from_package, prohmr_checkpoint=None)
    return ProHMRScene(model_cfg, cfg.loss), cfg


def load_with_source(path: str | Path) -> LoadedStage:
    """Build a `ProHMRScene` (eval mode, CPU, no body models) from our checkpoint (training or shipped) or the
    official stage-1 file, decided by what the file holds. For the official file the config is the `official` preset.

    Raises:
        FileNotFoundError, CheckpointError: missing, corrupt, foreign or other-stage file (the message says which).
    """
    path = Path(path)
    data = read_state_dict_file(path)
    kind = detect_checkpoint(data)
    if kind == "ours":
        model, cfg, provenance = load_our_checkpoint(path, CHECKPOINT_KIND, Stage1Config, _untrained_model)
        description = f"{path} (egohmr stage-1{' inference' if provenance else ''} checkpoint)"
        return LoadedStage(model, cfg, path, kind, description, provenance)
    if kind == "official-stage1":
        cfg = official_preset()
        model = ProHMRScene(cfg.model, cfg.loss)
        import_official_stage1(data, model)
        return LoadedStage(model.eval(), cfg, path, kind, f"{path} ({kind})", {})
    if kind == "official-stage2":
        raise CheckpointError(f"{path} is an official stage-2 checkpoint; stage-1 testing needs a stage-1 checkpoint")
    if kind == "prohmr":
        raise CheckpointError(
            f"{path} is a ProHMR Lightning checkpoint: it only initialises the backbone (model.prohmr_checkpoint), "
            "it is not a stage-1 model"
        )
    raise CheckpointError(f"{path} is neither an egohmr stage-1 checkpoint nor an official EgoHMR stage-1 file")


def load(path: str | Path) -> tuple[ProHMRScene, Stage1Config]:
    """(model, config) of any stage-1 file (`load_with_source`)."""
    loaded = load_with_source(path)
    return loaded.model, loaded.cfg


def export(source: str | Path, out: str | Path, note: str = "") -> dict[str, Any]:
    """Write a weights-only inference file of our stage-1 checkpoint `source`
    (`egohmr.train.inference_checkpoint.export_inference_checkpoint`); returns its provenance."""
    return export_inference_checkpoint(source, out, note, kinds=(CHECKPOINT_KIND,))
