"""Training and validation computations of `ProHMRScene` (the hooks of `egohmr.train.train`).

`training_step` follows the official `compute_loss` (reference-egohmr.md section 2): the mode and
`num_train_samples - 1` random samples are drawn with gradients; the NLL uses the GT pose plus N(0, 0.005^2) noise;
joints and vertices come from the neutral body for the predictions and the gendered body for the GT mesh; the 3D
joint targets are the annotation's `joints3d_pv`. The optional adversarial prior (a discriminator trained on CMU
mocap with its own AdamW) runs only when `model.mocap_path` is configured.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from egohmr.geometry.rotations import axis_angle_to_rotmat, rotmat_to_rot6d
from egohmr.stage1 import losses as L

if TYPE_CHECKING:
    from egohmr.stage1.model import ProHMRScene, Stage1Output

__all__ = [
    "auxiliary_step",
    "gt_pose_6d",
    "gt_pose_rotmat",
    "load_train_state_dict",
    "on_train_start",
    "train_state_dict",
    "training_step",
    "validation_step",
]

logger = logging.getLogger(__name__)

DISCRIMINATOR_LR = 1e-4
"""Discriminator AdamW learning rate and weight decay (official: same as the model, 1e-4 / 1e-4)."""
_BODY_TERMS = ("keypoints_2d_full", "keypoints_3d", "keypoints_3d_full", "v2v")


def gt_pose_rotmat(batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """(B, 24, 3, 3) GT rotations: global orientation (PV frame) then the 23 body joints."""
    return torch.cat([batch["global_orient_pv_rotmat"][:, None], batch["body_pose_rotmat"]], dim=1)


def gt_pose_6d(batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """(B, 144) GT pose in the flow's "col" 6D layout."""
    r = gt_pose_rotmat(batch)
    return rotmat_to_rot6d(r, order="col").reshape(r.shape[0], -1)


@dataclasses.dataclass
class _Bodies:
    """Posed bodies of the first S' samples (S' = S when a random-sample body term has a weight, else 1)."""

    joints: torch.Tensor  # (B, S', 24, 3) metres, PV axes, no translation
    vertices: torch.Tensor  # (B, S', V, 3)
    op25: torch.Tensor  # (B, S', 25, 3)
    gt_vertices: torch.Tensor  # (B, V, 3) gendered GT mesh, no translation
    gt_pelvis: torch.Tensor  # (B, 3)


def _require_bodies(model: ProHMRScene) -> torch.nn.ModuleDict:
    if model.bodies is None:
        raise RuntimeError("ProHMRScene has no body models: call attach_body_models(neutral, male, female) first")
    return model.bodies


def _pose_bodies(model: ProHMRScene, batch: Mapping[str, torch.Tensor], out: Stage1Output, num: int) -> _Bodies:
    bodies = _require_bodies(model)
    b = out.betas.shape[0]
    rot = out.pose_rotmat[:, :num]  # (B, S', 24, 3, 3)
    pred = bodies["neutral"](
        out.betas[:, :num].reshape(b * num, -1), rot[:, :, 0].reshape(-1, 3, 3), rot[:, :, 1:].reshape(-1, 23, 3, 3)
    )
    with torch.no_grad():
        args = (batch["betas"], batch["global_orient_pv_rotmat"], batch["body_pose_rotmat"])
        male, female = bodies["male"](*args), bodies["female"](*args)
        is_female = (batch["gender"] == 1)[:, None, None]  # (B, 1, 1)
        gt_vertices = torch.where(is_female, female.vertices, male.vertices)
        gt_pelvis = torch.where(is_female[:, 0], female.joints[:, 0], male.joints[:, 0])
    return _Bodies(
        joints=pred.joints.reshape(b, num, -1, 3),
        vertices=pred.vertices.reshape(b, num, -1, 3),
        op25=pred.openpose25().reshape(b, num, -1, 3),
        gt_vertices=gt_vertices,
        gt_pelvis=gt_pelvis,
    )


def _terms(
    model: ProHMRScene, batch: Mapping[str, torch.Tensor], out: Stage1Output
) -> tuple[dict[str, torch.Tensor], _Bodies]:
    """Per-sample loss terms (B, S or 1) and the posed bodies."""
    w = model.loss_weights
    num_samples = out.betas.shape[1]
    need_exp = any(getattr(w, f"{t}_exp") > 0 for t in _BODY_TERMS)
    num = num_samples if need_exp else 1
    bodies = _pose_bodies(model, batch, out, num)
    transl = out.transl_full_pv[:, :num, None, :]  # (B, S', 1, 3)
    img_size = batch["img_size_px"]  # (B, 2)
    gt2d = batch["kp2d_op25_full_px"]
    gt2d_norm = torch.cat([gt2d[..., :2] / img_size[:, None] - 0.5, gt2d[..., 2:]], dim=-1)  # (B, 25, 3)
    pred2d_norm = L.project_keypoints_full_norm(
        bodies.op25 + transl, batch["fx"], batch["fy"], batch["cx"], batch["cy"], img_size
    )
    gt_rot = gt_pose_rotmat(batch)
    per_sample = {
        "orthogonal": L.loss_orthogonal(out.pose_6d),
        "keypoints_2d_full": L.loss_keypoints_2d_full(pred2d_norm, gt2d_norm),
        "keypoints_3d": L.loss_keypoints_3d(bodies.joints, batch["joints3d_pv"]),
        "keypoints_3d_full": L.loss_keypoints_3d_full(bodies.joints + transl, batch["joints3d_pv"]),
        "v2v": L.loss_v2v(bodies.vertices, bodies.joints[:, :, 0], bodies.gt_vertices, bodies.gt_pelvis),
        "global_orient": L.loss_global_orient(out.global_orient_rotmat, gt_rot[:, 0]),
        "body_pose": L.loss_body_pose(out.body_pose_rotmat, gt_rot[:, 1:]),
        "betas": L.loss_betas(out.betas, batch["betas"]),
    }
    return per_sample, bodies


def training_step(model: ProHMRScene, batch: Mapping[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
    """Weighted loss of one training batch.

    Returns:
        {"loss": () total, "loss_<term>[_mode|_exp]": () each term} (egohmr.stage1.losses.combine_losses).
    """
    cfg = model.cfg
    context = model.context(batch)
    out = model.predict(context, batch, cfg.num_train_samples)
    gt6 = gt_pose_6d(batch)
    noisy = gt6 + cfg.pose_noise_std * torch.randn_like(gt6)  # engine-seeded global RNG (like dropout)
    scalars = {"nll": L.loss_nll(model.flow.log_prob(noisy, context))}
    per_sample, _ = _terms(model, batch, out)
    if model.discriminator is not None:
        b, s = out.betas.shape[:2]
        fake_pose = out.body_pose_rotmat.reshape(b * s, 23, 3, 3)
        fake_betas = out.betas.reshape(b * s, -1)
        scalars["adversarial"] = L.loss_adversarial(model.discriminator(fake_pose, fake_betas), b)
        model._fake_for_discriminator = (fake_pose.detach(), fake_betas.detach(), b)
    return L.combine_losses(per_sample, scalars, model.loss_weights)


def validation_step(model: ProHMRScene, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Losses (NLL without noise) and mode-sample metrics of one validation batch.

    Returns:
        Loss terms as in `training_step` plus `mpjpe_mm` (pelvis-aligned), `g_mpjpe_mm` (camera frame) and
        `transl_err_mm` (mode translation vs GT `transl_pv`), means over the batch.
    """
    cfg = model.cfg
    context = model.context(batch)
    out = model.predict(context, batch, cfg.num_train_samples)
    scalars = {"nll": L.loss_nll(model.flow.log_prob(gt_pose_6d(batch), context))}
    per_sample, bodies = _terms(model, batch, out)
    result = L.combine_losses(per_sample, scalars, model.loss_weights)
    gt_j = batch["joints3d_pv"]
    pj = bodies.joints[:, 0]  # (B, 24, 3) mode
    aligned = (pj - pj[:, :1]) - (gt_j - gt_j[:, :1])
    result["mpjpe_mm"] = 1000.0 * aligned.norm(dim=-1).mean()
    result["g_mpjpe_mm"] = 1000.0 * (pj + out.transl_full_pv[:, 0, None] - gt_j).norm(dim=-1).mean()
    result["transl_err_mm"] = 1000.0 * (out.transl_full_pv[:, 0] - batch["transl_pv"]).norm(dim=-1).mean()
    return result


INIT_NOISE_STD_MIN = 1e-3
"""Least noise std added to the GT poses of the ActNorm initialisation batch."""


def on_train_start(model: ProHMRScene, first_batch: Mapping[str, torch.Tensor]) -> None:
    """Data-dependent ActNorm initialisation with the first batch's GT poses (official `initialize`), once.

    The poses carry the same Gaussian noise as the NLL target (at least `INIT_NOISE_STD_MIN`): a 6D entry that is
    constant over the batch (a hinge joint that only ever bends about one axis, as in the synthetic data, gives
    exactly constant entries) would otherwise get std 0 and an infinite ActNorm scale.
    """
    if bool(model.initialized):
        return
    was_training = model.training
    model.train()
    with torch.no_grad():
        gt6 = gt_pose_6d(first_batch)
        noisy = gt6 + max(model.cfg.pose_noise_std, INIT_NOISE_STD_MIN) * torch.randn_like(gt6)
        model.flow.log_prob(noisy, model.context(first_batch))
    model.initialized.fill_(True)
    model.train(was_training)
    if model.discriminator is None:
        logger.info("training without the adversarial pose prior (model.mocap_path is not set)")


# ---------------------------------------------------------------------------------------------- discriminator
def _disc_state(model: ProHMRScene) -> dict[str, Any]:
    """Lazily built discriminator optimizer, mocap arrays and sampling generator."""
    state = getattr(model, "_disc", None)
    if state is None:
        from egohmr.stage1.discriminator import load_mocap

        if model.discriminator is None or model.cfg.mocap_path is None:
            raise RuntimeError("the adversarial prior needs model.mocap_path (and hence a discriminator)")
        pose, betas = load_mocap(model.cfg.mocap_path)
        device = next(model.discriminator.parameters()).device
        state = {
            "optimizer": torch.optim.AdamW(
                model.discriminator.parameters(), lr=DISCRIMINATOR_LR, weight_decay=DISCRIMINATOR_LR
            ),
            "pose": torch.from_numpy(pose),
            "betas": torch.from_numpy(betas),
            "generator": torch.Generator().manual_seed(0),
            "device": device,
        }
        model._disc = state
        logger.info("adversarial pose prior: %d mocap poses from %s", pose.shape[0], model.cfg.mocap_path)
    return state


def auxiliary_step(model: ProHMRScene, batch: Mapping[str, torch.Tensor], step: int) -> dict[str, float]:
    """One LSGAN discriminator update on mocap (real) vs the last training step's samples (fake)."""
    fake = getattr(model, "_fake_for_discriminator", None)
    if model.discriminator is None or fake is None:
        return {}
    fake_pose, fake_betas, b = fake
    state = _disc_state(model)
    n = fake_pose.shape[0]
    idx = torch.randint(0, state["pose"].shape[0], (n,), generator=state["generator"])
    real_pose = axis_angle_to_rotmat(state["pose"][idx].reshape(n, 23, 3)).to(fake_pose)
    real_betas = state["betas"][idx].to(fake_betas)
    d_real = model.discriminator(real_pose, real_betas)
    d_fake = model.discriminator(fake_pose, fake_betas)
    loss = model.loss_weights.adversarial * (((d_real - 1.0) ** 2).sum() / b + (d_fake**2).sum() / b)
    state["optimizer"].zero_grad(set_to_none=True)
    loss.backward()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        world = torch.distributed.get_world_size()
        for p in model.discriminator.parameters():
            if p.grad is not None:
                torch.distributed.all_reduce(p.grad)
                p.grad.div_(world)
    state["optimizer"].step()
    model._fake_for_discriminator = None
    return {"loss_discriminator": float(loss.detach())}


def train_state_dict(model: ProHMRScene) -> dict[str, Any]:
    """Discriminator optimizer and mocap generator state (empty without the adversarial prior)."""
    if model.discriminator is None:
        return {}
    state = _disc_state(model)
    return {"disc_optimizer": state["optimizer"].state_dict(), "mocap_generator": state["generator"].get_state()}


def load_train_state_dict(model: ProHMRScene, saved: Mapping[str, Any]) -> None:
    """Restore `train_state_dict`."""
    if model.discriminator is None or not saved:
        return
    state = _disc_state(model)
    state["optimizer"].load_state_dict(saved["disc_optimizer"])
    state["generator"].set_state(saved["mocap_generator"])
