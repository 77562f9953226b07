"""Stage-2 checkpoints: `load` any stage-2 file, `export` an inference file, import the official weights.

`load` decides by what the file holds (`egohmr.train.checkpoint_files.detect_checkpoint`):
- ours: `egohmr.train` checkpoints of kind "egohmr.stage2", training (``best.pt`` / ``last.pt``) or shipped
  (`egohmr.train.inference_checkpoint`); architecture and x0 statistics come from the file;
- official: ``91453/best_model_mpjpe_vis.pt`` (``{'state_dict': ...}``) with its ``preprocess_stats.npz``, imported
  with the official architecture (`import_official_stage2`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from egohmr.data.stats import STATS_FILE, load_pose_stats
from egohmr.models.denoiser import denoiser_state_dict_from_official
from egohmr.stage2.config import Stage2Config
from egohmr.stage2.model import CHECKPOINT_KIND, EgoHMRModel
from egohmr.train.checkpoint import CheckpointError, load_state_dict_checked
from egohmr.train.checkpoint_files import detect_checkpoint, read_state_dict_file
from egohmr.train.inference_checkpoint import LoadedStage, export_inference_checkpoint, load_our_checkpoint

__all__ = ["export", "import_official_stage2", "load", "load_with_source", "official_stage2_state_dict"]

logger = logging.getLogger(__name__)

_OFFICIAL_IGNORED = ("smpl.", "smpl_male.", "smpl_female.")


def official_stage2_state_dict(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Map an official ``EgoHMR`` state dict to ours (explicit prefixes), listing the ignored keys.

    ``backbone.*`` -> ``backbone.*``; ``scene_enc.*`` -> ``scene_enc.*``; ``input_process.*``,
    ``embed_timestep.*``, ``transl_enc.*``, ``diffusion_model.*``, ``beta_layer.*`` -> ``denoiser.*`` (the
    positional tables ``sequence_pos_encoder.pe`` are checked and dropped by
    `egohmr.models.denoiser.denoiser_state_dict_from_official`); ``smpl*.`` (body models, COAP) are ignored.

    Returns:
        (our state dict without ``x_mean`` / ``x_std``, ignored official keys).
    """
    state = {k.removeprefix("module."): v for k, v in state.items()}
    ours: dict[str, torch.Tensor] = {}
    ignored = sorted(k for k in state if k.startswith(_OFFICIAL_IGNORED))
    for key, value in state.items():
        if key.startswith(("backbone.", "scene_enc.")):
            ours[key] = value
    for key, value in denoiser_state_dict_from_official(state).items():
        ours[f"denoiser.{key}"] = value
    return ours, ignored


def import_official_stage2(
    checkpoint_path: str | Path, stats_path: str | Path | None = None, cfg: Stage2Config | None = None
) -> EgoHMRModel:
    """Build our model from an official ``91453/best_model_mpjpe_vis.pt`` and its ``preprocess_stats.npz``.

    Args:
        checkpoint_path: official ``{'state_dict': ...}`` file.
        stats_path: ``preprocess_stats.npz`` (or its folder); default: next to the checkpoint, or in its
            ``preprocess_stats/`` subfolder (the official layout).
        cfg: architecture (default: the official preset).

    Raises:
        FileNotFoundError: checkpoint or statistics missing. ValueError: not an official stage-2 file, or keys that
            do not fit.
    """
    checkpoint_path = Path(checkpoint_path)
    if not checkpoint_path.is_file():
        raise FileNotFoundError(f"official stage-2 checkpoint not found: {checkpoint_path}")
    data = read_state_dict_file(checkpoint_path)
    if not isinstance(data, Mapping) or "state_dict" not in data:
        raise ValueError(f"{checkpoint_path}: not an official EgoHMR checkpoint (no 'state_dict' key)")
    if stats_path is None:
        candidates = [checkpoint_path.parent / STATS_FILE, checkpoint_path.parent / "preprocess_stats" / STATS_FILE]
        found = [c for c in candidates if c.is_file()]
        if not found:
            raise FileNotFoundError(
                f"preprocess_stats.npz not found next to {checkpoint_path} (looked at {[str(c) for c in candidates]}); "
                "it ships with the official checkpoint (91453/preprocess_stats/preprocess_stats.npz)"
            )
        stats_path = found[0]
    stats = load_pose_stats(stats_path)
    state, ignored = official_stage2_state_dict(data["state_dict"])
    if any(k.startswith("smpl.coap.") for k in ignored):
        logger.info("ignoring %d official body-model keys (smpl*, incl. the COAP network smpl.coap.*)", len(ignored))
    elif ignored:
        logger.info("ignoring %d official body-model keys (smpl*)", len(ignored))
    model = EgoHMRModel(cfg or Stage2Config())
    state["x_mean"] = torch.from_numpy(stats.x_mean)
    state["x_std"] = torch.from_numpy(stats.x_std)
    load_state_dict_checked(model, state, source=str(checkpoint_path))
    return model


def _untrained_model(cfg: Stage2Config, backbone_from_package: bool) -> tuple[EgoHMRModel, Stage2Config]:
    """`EgoHMRModel` of a stored config; ImageNet weights only for a backbone the file left out."""
    cfg = replace(cfg, model=replace(cfg.model, backbone_pretrained=backbone_from_package))
    return EgoHMRModel(cfg), cfg


def load_with_source(path: str | Path) -> LoadedStage:
    """Build an `EgoHMRModel` (eval mode, CPU) from our checkpoint (training or shipped) or the official
    ``best_model_mpjpe_vis.pt``, decided by what the file holds. For the official file the config is the official
    preset.

    Raises:
        FileNotFoundError, CheckpointError: missing, corrupt, foreign or other-stage file (the message says which).
    """
    path = Path(path)
    kind = detect_checkpoint(read_state_dict_file(path))
    if kind == "ours":
        model, cfg, provenance = load_our_checkpoint(path, CHECKPOINT_KIND, Stage2Config, _untrained_model)
        description = f"{path} (egohmr stage-2{' inference' if provenance else ''} checkpoint)"
        return LoadedStage(model, cfg, path, kind, description, provenance)
    if kind == "official-stage2":
        cfg = Stage2Config()
        logger.info("%s is an official EgoHMR checkpoint: importing it with the official architecture", path)
        model = import_official_stage2(path, cfg=cfg).eval()
        return LoadedStage(model, cfg, path, kind, f"{path} ({kind})", {})
    raise CheckpointError(f"{path} is not a stage-2 checkpoint (detected: {kind}); pass a stage-2 file as stage2")


def load(path: str | Path) -> tuple[EgoHMRModel, Stage2Config]:
    """(model, config) of any stage-2 file (`load_with_source`)."""
    loaded = load_with_source(path)
    return loaded.model, loaded.cfg


def export(source: str | Path, out: str | Path, note: str = "") -> dict[str, Any]:
    """Write a weights-only inference file of our stage-2 checkpoint `source`
    (`egohmr.train.inference_checkpoint.export_inference_checkpoint`); returns its provenance."""
    return export_inference_checkpoint(source, out, note, kinds=(CHECKPOINT_KIND,))
