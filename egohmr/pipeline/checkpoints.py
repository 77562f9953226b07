"""The two stage models of the pipeline: shipped defaults, and `load_stage_models` over each stage's `checkpoint.load`.

Files are read by `egohmr.stage1.checkpoint` and `egohmr.stage2.checkpoint` (shipped inference files, our training
checkpoints ``best.pt``/``last.pt``, the official stage-1 ``best_model.pt`` and the official stage-2
``best_model_mpjpe_vis.pt`` with ``preprocess_stats.npz`` next to it); shipped files are written by
`export_inference_checkpoint` (`egohmr.train.inference_checkpoint`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from egohmr.train.inference_checkpoint import export_inference_checkpoint

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

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "assets" / "checkpoints"
SHIPPED_STAGE1 = SHIPPED_DIR / "stage1_cpu.pt"
"""Shipped stage-1 cpu-preset checkpoint (inference only)."""
SHIPPED_STAGE2 = SHIPPED_DIR / "stage2_cpu.pt"
"""Shipped stage-2 cpu-preset checkpoint (inference only)."""


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


def load_stage1(path: str | Path) -> tuple[Any, Any, str, dict[str, Any]]:
    """Stage-1 model of any stage-1 file (`egohmr.stage1.checkpoint.load_with_source`).

    Returns:
        (ProHMRScene in eval mode on CPU, Stage1Config, description, provenance).
    """
    from egohmr.stage1 import checkpoint

    loaded = checkpoint.load_with_source(path)
    return loaded.model, loaded.cfg, loaded.description, loaded.provenance


def load_stage2(path: str | Path) -> tuple[Any, Any, str, dict[str, Any]]:
    """Stage-2 model of any stage-2 file (`egohmr.stage2.checkpoint.load_with_source`).

    Returns:
        (EgoHMRModel in eval mode on CPU, Stage2Config, description, provenance).
    """
    from egohmr.stage2 import checkpoint

    loaded = checkpoint.load_with_source(path)
    return loaded.model, loaded.cfg, loaded.description, loaded.provenance


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
