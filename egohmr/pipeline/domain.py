"""What data the loaded checkpoints were trained on, as far as the files tell, and the warning it calls for.

Rule: a checkpoint of ours (not an official file) whose body model is the open body (``open`` / ``open-lowres``) was
trained on synthetic data: the open body only fits the synthetic EgoBody of `egohmr synth` (real EgoBody's ground
truth is SMPL). The shipped cpu checkpoints are such files (their provenance names their synthetic training runs,
docs/demo.md). Official checkpoints were trained on real EgoBody.
"""

from __future__ import annotations

from typing import Any

from egohmr.body.io import OPEN_SOURCES

__all__ = ["body_model_name", "synthetic_stages", "training_domain_note"]


def body_model_name(models: Any) -> str:
    """The body model the predictions are posed with (the stage-2 model's ``body_source``)."""
    return str(models.stage2_cfg.model.body_source)


def _is_official(description: str) -> bool:
    return "official" in description.lower()


def synthetic_stages(models: Any) -> list[str]:
    """Names ("stage1", "stage2") of the loaded stages trained on synthetic data (module docstring rule).

    Args:
        models: `egohmr.pipeline.checkpoints.StageModels`.
    """
    bodies = {"stage1": str(models.stage1_cfg.model.body_model), "stage2": body_model_name(models)}
    return [s for s in ("stage1", "stage2") if not _is_official(models.sources[s]) and bodies[s] in OPEN_SOURCES]


def training_domain_note(models: Any) -> str | None:
    """One sentence for the user when a stage was trained on synthetic data, else None."""
    stages = synthetic_stages(models)
    if not stages:
        return None
    which = " and ".join(stages)
    return (
        f"the {which} checkpoint{'s were' if len(stages) > 1 else ' was'} trained on synthetic data (open body): real "
        "images are out of their domain, so expect rough bodies; use the official EgoHMR checkpoints "
        "(--stage1/--stage2) on real recordings"
    )
