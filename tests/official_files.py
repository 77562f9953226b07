"""Stand-ins for the official EgoHMR files, built from the golden recipe (tests/golden/README.md).

- stage 1: ``checkpoints_egohmr/53618/best_model.pt``, ``{'state_dict': ...}`` in the official key layout;
- stage 2: ``checkpoints_egohmr/91453/best_model_mpjpe_vis.pt`` with ``91453/preprocess_stats/preprocess_stats.npz``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from egohmr.data.stats import PoseStats, save_pose_stats
from egohmr.models.denoiser import sinusoidal_table
from egohmr.models.flow import SMPLFlow
from egohmr.stage1.discriminator import PoseDiscriminator
from tests.golden_recipe import recipe_state_dict

Golden = Callable[[str], dict[str, np.ndarray]]


def manifest_rows(fixture: dict, prefix: str) -> dict:
    """Manifest rows of `fixture` whose key starts with `prefix` (per-key seeds make a subset rebuildable)."""
    keep = np.array([str(k).startswith(prefix) for k in fixture["sd_keys"]])
    return {k: (v[keep] if k.startswith("sd_") else v) for k, v in fixture.items()}


def golden_stage1_state_dict(golden: Golden) -> dict[str, torch.Tensor]:
    """Official stage-1 keys: the golden ResNet-50, flow and PointNet, a fresh discriminator, body-model buffers."""
    flow = SMPLFlow().state_dict()  # constructor values for the recipe's untouched integer buffers
    flow.update(recipe_state_dict(golden("stage1_flow")))
    state = {"initialized": torch.tensor(True)}
    state.update(
        {
            f"backbone.{k}": v
            for k, v in recipe_state_dict(manifest_rows(golden("stage2_denoiser"), "backbone.")).items()
        }
    )
    state = {k.replace("backbone.backbone.", "backbone."): v for k, v in state.items()}
    state.update({f"flow.{k}": v for k, v in flow.items()})
    state.update({f"scene_enc.{k}": v for k, v in recipe_state_dict(golden("pointnet")).items()})
    state.update({f"discriminator.{k}": v for k, v in PoseDiscriminator().state_dict().items()})
    for body in ("smpl", "smpl_male", "smpl_female"):
        state[f"{body}.betas"] = torch.zeros(1, 10)
        state[f"{body}.v_template"] = torch.zeros(12, 3)
    return state


def golden_stage2_state_dict(golden: Golden) -> dict[str, torch.Tensor]:
    """Official stage-2 keys: the golden denoiser recipe, its positional tables and ignored body-model keys."""
    state = recipe_state_dict(golden("stage2_denoiser"))
    table = sinusoidal_table(5000, 512).unsqueeze(1)  # official [5000, 1, 512]
    state["sequence_pos_encoder.pe"] = table
    state["embed_timestep.sequence_pos_encoder.pe"] = table
    state["smpl.coap.encoder.fc_pos.weight"] = torch.zeros(4, 3)  # body-model keys are ignored with a notice
    state["smpl.v_template"] = torch.zeros(10, 3)
    return state


def write_official_stage1(golden: Golden, folder: Path) -> Path:
    """``<folder>/best_model.pt`` (as ``checkpoints_egohmr/53618/``)."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": golden_stage1_state_dict(golden)}, folder / "best_model.pt")
    return folder / "best_model.pt"


def write_official_stage2(golden: Golden, folder: Path) -> Path:
    """``<folder>/best_model_mpjpe_vis.pt`` and ``<folder>/preprocess_stats/preprocess_stats.npz`` (as ``91453/``)."""
    folder.mkdir(parents=True, exist_ok=True)
    fx = golden("stage2_denoiser")
    torch.save({"state_dict": golden_stage2_state_dict(golden)}, folder / "best_model_mpjpe_vis.pt")
    stats = PoseStats(fx["body_rep_mean"].astype(np.float32), fx["body_rep_std"].astype(np.float32))
    save_pose_stats(folder / "preprocess_stats", stats)
    return folder / "best_model_mpjpe_vis.pt"
