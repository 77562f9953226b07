"""Stage-2 sampling for a batch of images: the fast batched pipeline and the official-style reference.

Fast (``mode="fast"``, the default), per batch of B images and S samples:

1. once per image: backbone, PointNet on the human-centric cube, translation embedding, the x_t/t-independent part
   of the first graph layer, and the betas (`EgoHMRModel.encode`);
2. the condition rows are repeated S times (image-major rows ``b·S + s``; no recomputation), and the whole chain runs
   on N = B·S rows: one denoiser call per step (with diffuse_fuse one GCN call on 2N rows), one batched guidance
   call per active step. There is no Python loop over samples or images.

Reference (``mode="reference"``): what the official ``test_egohmr.py`` computes. Samples are drawn one after another;
every denoiser call reruns the backbone and the PointNet and builds the full 3718-wide tokens (two GCN calls with
diffuse_fuse); guidance runs per sample. Both modes use the same pre-drawn noise (`draw_noise` over the B·S rows), so
their results agree to float tolerance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from egohmr.constants import POSE_6D_DIM
from egohmr.diffusion.guidance import BoundCollisionGuidance, CollisionGuidance
from egohmr.diffusion.sampling import GuidanceFn, ReturnMode, SamplingNoise, draw_noise, sample, step_plan
from egohmr.diffusion.schedulers import DDIMScheduler, DDPMScheduler
from egohmr.models.denoiser import DenoiserCondition
from egohmr.stage2.config import Stage2TestConfig
from egohmr.stage2.model import EgoHMRModel

__all__ = ["Stage2Samples", "build_guidance", "draw_frame_noise", "predict_samples"]


@dataclass(frozen=True)
class Stage2Samples:
    """S pose samples for each of B images (neutral body; translation not included).

    Attributes:
        global_orient_rotmat: (B, S, 3, 3) float, SMPL local -> PV camera frame.
        body_pose_rotmat: (B, S, 23, 3, 3) float.
        betas: (B, S, 10) float (deterministic per image: the same for every sample).
        x0: (B, S, 144) normalised row-order 6D that was decoded.
    """

    global_orient_rotmat: torch.Tensor
    body_pose_rotmat: torch.Tensor
    betas: torch.Tensor
    x0: torch.Tensor


def draw_frame_noise(
    seed: int,
    keys: Sequence[str],
    num_samples: int,
    scheduler: DDPMScheduler | DDIMScheduler,
    device: torch.device | str = "cpu",
    timesteps: list[int] | None = None,
) -> SamplingNoise:
    """The noise of a batch drawn image by image: image b's S rows come from its own CPU generator, seeded by its
    ``stage2-noise`` stream (`egohmr.preprocess.sampling.frame_seed` of ``seed`` and ``keys[b]``), so an image's
    samples depend neither on the batch, the chunk or the process it is sampled in, nor on the device.

    Args:
        seed: sampling seed (``Stage2TestConfig.seed``). keys: B frame keys (image file stems,
            `egohmr.preprocess.sampling.frame_key`). num_samples: S. scheduler, timesteps: the step plan.
        device: where the noise goes.

    Returns:
        `SamplingNoise` over the B·S rows (image-major), float32.
    """
    from egohmr.preprocess.sampling import STAGE2_NOISE, frame_seed

    num_steps = len(step_plan(scheduler, timesteps))
    per_image = [
        draw_noise(
            num_steps, (num_samples, POSE_6D_DIM), torch.Generator().manual_seed(frame_seed(seed, k, STAGE2_NOISE))
        )
        for k in keys
    ]
    x_init = torch.cat([n.x_init for n in per_image])
    steps = torch.cat([n.steps for n in per_image], dim=1)
    return SamplingNoise(x_init.to(device), steps.to(device))


def build_guidance(model: EgoHMRModel, settings: Stage2TestConfig) -> CollisionGuidance | None:
    """Collision guidance of ``settings.guidance`` for a model (its schedule, neutral body, scorer and x0 statistics).

    Args:
        model: `EgoHMRModel`; its config is only read (``model.cfg.test`` is not consulted).
        settings: the sampling settings; ``settings.guidance`` gives on/off, weight and active steps.

    Returns:
        `CollisionGuidance`, or None when ``settings.guidance.enabled`` is False.
    """
    if not settings.guidance.enabled:
        return None
    return CollisionGuidance(
        settings.guidance,
        model.cfg.schedule,
        model.bodies()["neutral"],
        model.scorer(),
        model.x_mean,
        model.x_std,
    )


class _PerRowGuidance:
    """Official-style guidance: the bound guidance called one row at a time (the official per-sample loop)."""

    def __init__(self, bound: BoundCollisionGuidance) -> None:
        self.bound = bound

    def __call__(self, x_t: torch.Tensor, t: int, t_prev: int) -> torch.Tensor | None:
        g = self.bound.guidance
        if not g.is_active(t, t_prev):
            return None
        rows = [
            g.gradient(x_t[i : i + 1], self.bound.betas[i : i + 1], self.bound.points_hc[i : i + 1])
            for i in range(x_t.shape[0])
        ]
        return (g.config.weight * g.step_scale(t, t_prev)) * torch.cat(rows, dim=0)


@dataclass(frozen=True)
class _RowsGuidance:
    """Guidance with the betas (N, 10) and human-centric cube points (N, P, 3) of the N = B·S rows (or no guidance)."""

    guidance: CollisionGuidance | None
    betas_rows: torch.Tensor
    points_rows: torch.Tensor | None

    def bind(self, index: torch.Tensor | None = None) -> BoundCollisionGuidance | None:
        """The guidance bound to all rows, or to the rows ``index``; None without guidance."""
        if self.guidance is None or self.points_rows is None:
            return None
        if index is None:
            return self.guidance.bind(self.betas_rows, self.points_rows)
        return self.guidance.bind(self.betas_rows[index], self.points_rows[index])


def _sample_fast(
    model: EgoHMRModel,
    batch: Mapping[str, torch.Tensor],
    transl_pv: torch.Tensor,
    cond: DenoiserCondition,
    num_samples: int,
    scheduler: DDPMScheduler | DDIMScheduler,
    fuse: bool,
    guidance: _RowsGuidance,
    noise: SamplingNoise,
    return_mode: ReturnMode,
    timesteps: list[int] | None,
) -> torch.Tensor:
    """x0 (B·S, 144) of all rows at once: condition rows repeated S times, one denoiser call per step."""
    rows = transl_pv.shape[0] * num_samples
    cond_rows = cond.repeat_interleave(num_samples)
    vis_rows = batch["vis_smpl24"].repeat_interleave(num_samples, dim=0)
    step = model.denoiser.denoise_fused if fuse else model.denoiser.denoise

    def denoise_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return step(x, t, cond_rows, vis_rows)

    bound: GuidanceFn | None = guidance.bind()
    return sample(denoise_fn, scheduler, timesteps, (rows, POSE_6D_DIM), bound, noise=noise, return_mode=return_mode)


def _sample_reference(
    model: EgoHMRModel,
    batch: Mapping[str, torch.Tensor],
    transl_pv: torch.Tensor,
    cond: DenoiserCondition,
    num_samples: int,
    scheduler: DDPMScheduler | DDIMScheduler,
    fuse: bool,
    guidance: _RowsGuidance,
    noise: SamplingNoise,
    return_mode: ReturnMode,
    timesteps: list[int] | None,
) -> torch.Tensor:
    """x0 (B·S, 144, image-major rows) as the official code: one sample after another, features at every call."""
    batch_size = transl_pv.shape[0]
    vis = batch["vis_smpl24"]
    step_ref = model.denoiser.denoise_fused_reference if fuse else model.denoiser.denoise_reference

    def denoise_ref(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        fresh, _ = model.encode(batch, transl_pv)  # official: backbone + PointNet at every call
        return step_ref(x, t, fresh, vis)

    per_sample = []
    for s in range(num_samples):  # official: one sample after another
        index = torch.arange(batch_size, device=transl_pv.device) * num_samples + s
        bound = guidance.bind(index)
        per_row: GuidanceFn | None = None if bound is None else _PerRowGuidance(bound)
        per_sample.append(
            sample(
                denoise_ref,
                scheduler,
                timesteps,
                (batch_size, POSE_6D_DIM),
                per_row,
                noise=noise.rows(index),
                return_mode=return_mode,
            )
        )
    return torch.stack(per_sample, dim=1).reshape(batch_size * num_samples, POSE_6D_DIM)


def predict_samples(
    model: EgoHMRModel,
    batch: Mapping[str, torch.Tensor],
    transl_pv: torch.Tensor,
    num_samples: int,
    scheduler: DDPMScheduler | DDIMScheduler,
    *,
    fuse: bool = True,
    guidance: CollisionGuidance | None = None,
    generator: torch.Generator | None = None,
    noise: SamplingNoise | None = None,
    return_mode: ReturnMode = "official",
    mode: Literal["fast", "reference"] = "fast",
    timesteps: list[int] | None = None,
    visible_noise_scale: float = 1.0,
) -> Stage2Samples:
    """Draw ``num_samples`` poses for every image of a batch.

    Args:
        model: `EgoHMRModel` in eval mode (BatchNorm statistics; diffuse_fuse batches two branches).
        batch: collated stage-2 samples (``img_crop`` or ``img_feat``, ``scene_points_pv``, camera, ``vis_smpl24``).
        transl_pv: (B, 3) metres, PV frame: the stage-1 translation at test time.
        num_samples: S.
        scheduler: DDPM or DDIM scheduler (its respacing decides the steps).
        fuse: official diffuse_fuse (visible joints image+scene, invisible joints scene-only).
        guidance: collision guidance (`build_guidance`) or None; it uses all cube points (human-centric).
        generator: random source of the noise when ``noise`` is None.
        noise: pre-drawn noise over the B·S rows (`draw_noise`, image-major rows), shared by both modes.
        return_mode: ``official`` (x̂0 of the t = 0 call) or ``final`` (last sample).
        mode: ``fast`` or ``reference`` (module docstring).
        timesteps: optional subset of the step plan, strictly decreasing (benchmarks time a few steps).
        visible_noise_scale: factor on the noise of the visible joints' entries (1 = official; see
            `egohmr.stage2.config.Stage2TestConfig.visible_noise_scale`).

    Returns:
        `Stage2Samples`.
    """
    if model.training:
        raise ValueError("predict_samples: call model.eval() first (BatchNorm must use its running statistics)")
    if mode not in ("fast", "reference"):
        raise ValueError(f"predict_samples: mode must be 'fast' or 'reference', got {mode!r}")
    batch_size = transl_pv.shape[0]
    rows = batch_size * num_samples
    plan = step_plan(scheduler, timesteps)
    if noise is None:
        noise = draw_noise(len(plan), (rows, POSE_6D_DIM), generator, transl_pv.dtype, transl_pv.device)
    vis = batch["vis_smpl24"]
    if visible_noise_scale != 1.0:
        per_entry = vis.repeat_interleave(num_samples, dim=0).repeat_interleave(POSE_6D_DIM // vis.shape[1], dim=1)
        noise = noise.scaled(torch.where(per_entry, visible_noise_scale, 1.0).to(noise.x_init.dtype))

    with torch.no_grad():
        cond, betas = model.encode(batch, transl_pv)  # once per image (the reference mode also recomputes below)
        betas_rows = betas.repeat_interleave(num_samples, dim=0)  # (N, 10)
        points_rows = None
        if guidance is not None:
            points_rows = model.scene_points_hc(batch, transl_pv, None).repeat_interleave(num_samples, dim=0)
        rows_guidance = _RowsGuidance(guidance, betas_rows, points_rows)
        run = _sample_fast if mode == "fast" else _sample_reference
        x0 = run(
            model, batch, transl_pv, cond, num_samples, scheduler, fuse, rows_guidance, noise, return_mode, timesteps
        )
        rotmat, _ = model.decode(x0)
    return Stage2Samples(
        global_orient_rotmat=rotmat[:, 0].reshape(batch_size, num_samples, 3, 3),
        body_pose_rotmat=rotmat[:, 1:].reshape(batch_size, num_samples, 23, 3, 3),
        betas=betas_rows.reshape(batch_size, num_samples, -1),
        x0=x0.reshape(batch_size, num_samples, POSE_6D_DIM),
    )
