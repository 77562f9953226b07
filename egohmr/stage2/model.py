"""`EgoHMRModel`: the stage-2 network (backbone, scene encoder, pose denoiser, x0 statistics) and its training step.

Layout of the state dict (ours): ``backbone.*``, ``scene_enc.*`` (official names), ``denoiser.*`` (official names
below the prefix: ``denoiser.input_process...``, ``denoiser.diffusion_model...``, ``denoiser.beta_layer...``),
``x_mean`` / ``x_std`` (the ``preprocess_stats.npz`` normaliser, stored with the weights). Body models are not part
of the state: they are loaded from ``model.body_source`` (or given with `set_body_models`). Checkpoint files are read
and written by `egohmr.stage2.checkpoint`.

Training step (official ``EgoHMR.training_step``; `reference-egohmr.md` section 3): t ~ U{0..T−1}, x_t =
q_sample(x0), image condition masked for a fraction ``cond_mask_prob`` of the samples, x̂0 predicted, decoded to the
neutral body with the predicted betas, and the geometric losses against the gendered GT body (GT translation); the
penetration loss from ``penetration_start_step`` on. Validation: ddim5, no fuse, no guidance, visible-joint
pelvis-aligned MPJPE in mm (visible = GT joint projects inside the image).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from egohmr.body import BodyModel, load_body_model
from egohmr.collision import SurfacePenetration
from egohmr.constants import MM_PER_M, NUM_SMPL_JOINTS, POSE_6D_DIM
from egohmr.diffusion.sampling import sample
from egohmr.diffusion.schedulers import DDPMScheduler, build_scheduler
from egohmr.geometry.rotations import rot6d_to_rotmat, rotmat_to_rot6d
from egohmr.models import build_backbone
from egohmr.models.denoiser import DenoiserCondition, PoseDenoiser, camera_condition
from egohmr.models.scene_encoder import ResnetPointnet
from egohmr.stage2 import losses as L
from egohmr.stage2.config import Stage2Config

__all__ = ["CHECKPOINT_KIND", "EgoHMRModel"]

logger = logging.getLogger(__name__)

CHECKPOINT_KIND = "egohmr.stage2"


class EgoHMRModel(nn.Module):
    """Stage-2 model (see the module docstring).

    Args:
        cfg: resolved `Stage2Config` (architecture from ``cfg.model``, schedule from ``cfg.schedule``).
        x_mean: optional (144,) x0 mean; x_std: optional (144,) x0 std (set later with `set_norm_stats` otherwise).
    """

    x_mean: torch.Tensor
    x_std: torch.Tensor

    def __init__(self, cfg: Stage2Config, x_mean: Any = None, x_std: Any = None) -> None:
        super().__init__()
        self.cfg = cfg
        m = cfg.model
        self.backbone, feat_dim = build_backbone(m.backbone, m.backbone_pretrained)
        self.train_scheduler = DDPMScheduler(cfg.schedule, "")
        self.scene_enc = ResnetPointnet(out_dim=m.scene_feat_dim, hidden_dim=m.scene_hidden_dim)
        self.denoiser = PoseDenoiser(
            img_dim=feat_dim,
            scene_dim=m.scene_feat_dim,
            transl_dim=m.transl_dim,
            latent_dim=m.latent_dim,
            gcn_hidden=m.gcn_hidden,
            gcn_blocks=m.gcn_blocks,
            init_betas=torch.tensor(m.init_betas, dtype=torch.float32),
            prediction=cfg.schedule.prediction,
            alphas_cumprod=self.train_scheduler.schedule.alphas_cumprod,
        )
        self.register_buffer("x_mean", torch.zeros(POSE_6D_DIM))
        self.register_buffer("x_std", torch.ones(POSE_6D_DIM))
        if x_mean is not None or x_std is not None:
            self.set_norm_stats(x_mean, x_std)
        self._bodies: dict[str, BodyModel] | None = None
        self._scorer: SurfacePenetration | None = None
        if m.freeze_backbone:
            for p in self.backbone.parameters():
                p.requires_grad_(False)

    # ------------------------------------------------------------------ set-up
    def set_norm_stats(self, x_mean: Any, x_std: Any) -> None:
        """Set the x0 normaliser: (144,) mean and (144,) std (`egohmr.data.stats.PoseStats` values)."""
        mean = torch.as_tensor(np.asarray(x_mean), dtype=torch.float32).reshape(-1)
        std = torch.as_tensor(np.asarray(x_std), dtype=torch.float32).reshape(-1)
        if mean.shape != (POSE_6D_DIM,) or std.shape != (POSE_6D_DIM,):
            raise ValueError(f"norm stats must be ({POSE_6D_DIM},) each, got {tuple(mean.shape)}, {tuple(std.shape)}")
        if not bool((std > 0).all()):
            raise ValueError("norm stats: x_std must be > 0 everywhere")
        self.x_mean.copy_(mean)
        self.x_std.copy_(std)

    def set_body_models(self, neutral: BodyModel, male: BodyModel, female: BodyModel) -> None:
        """Use these body models (same topology) instead of loading ``cfg.model.body_source``."""
        self._bodies = {"neutral": neutral, "male": male, "female": female}
        self._scorer = None

    def bodies(self) -> dict[str, BodyModel]:
        """{"neutral", "male", "female"} body models on the model's device (loaded on first use)."""
        if self._bodies is None:
            src = self.cfg.model.body_source
            self._bodies = {g: load_body_model(src, g) for g in ("neutral", "male", "female")}
        device = self.x_mean.device
        for key, body in self._bodies.items():
            if body.v_template.device != device:
                self._bodies[key] = body.to(device)
        return self._bodies

    def scorer(self) -> SurfacePenetration:
        """Penetration scorer of the neutral body's topology."""
        if self._scorer is None:
            neutral = self.bodies()["neutral"]
            self._scorer = SurfacePenetration(neutral.faces, neutral.num_vertices)
        return self._scorer

    def train(self, mode: bool = True) -> EgoHMRModel:
        super().train(mode)
        if self.cfg.model.freeze_backbone:
            self.backbone.eval()  # frozen: BatchNorm statistics stay the pretrained ones
        return self

    def parameter_groups(self) -> list[dict[str, Any]]:
        """One AdamW group of the trainable parameters (a frozen backbone is left out)."""
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]

    # ------------------------------------------------------------------ representation
    def normalize(self, pose_6d: torch.Tensor) -> torch.Tensor:
        """(N, 144) row-order 6D -> normalised x0."""
        return (pose_6d - self.x_mean) / self.x_std

    def unnormalize(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 144) normalised -> row-order 6D."""
        return x * self.x_std + self.x_mean

    def decode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised x0 (N, 144) or (N, 24, 6) -> (rotmat (N, 24, 3, 3), raw 6D (N, 24, 6)); joint 0: PV frame."""
        pose_6d = self.unnormalize(x.reshape(-1, POSE_6D_DIM)).reshape(-1, NUM_SMPL_JOINTS, 6)
        return rot6d_to_rotmat(pose_6d, order="row"), pose_6d

    def encode_gt_pose(self, global_orient_rotmat_pv: torch.Tensor, body_pose_rotmat: torch.Tensor) -> torch.Tensor:
        """GT rotations (B, 3, 3) and (B, 23, 3, 3) -> normalised x0 (B, 144)."""
        rotmat = torch.cat((global_orient_rotmat_pv.unsqueeze(1), body_pose_rotmat), dim=1)  # (B, 24, 3, 3)
        return self.normalize(rotmat_to_rot6d(rotmat, order="row").reshape(-1, POSE_6D_DIM))

    # ------------------------------------------------------------------ conditioning (once per image)
    def image_features(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(B, F) image feature: ``batch["img_feat"]`` when present (cached), else the backbone on ``img_crop``."""
        if "img_feat" in batch:
            return batch["img_feat"]
        if "img_crop" not in batch:
            raise ValueError("stage-2 batch has neither 'img_crop' nor cached 'img_feat' (dataset load_images off?)")
        if self.cfg.model.freeze_backbone:
            with torch.no_grad():
                return self.backbone(batch["img_crop"])
        return self.backbone(batch["img_crop"])

    def scene_points_hc(
        self, batch: Mapping[str, torch.Tensor], transl_pv: torch.Tensor, num: int | None
    ) -> torch.Tensor:
        """(B, P, 3) metres, human-centric: the first ``num`` cube points (all if None) minus the translation."""
        if "scene_points_pv" not in batch:
            raise ValueError("stage-2 batch lacks 'scene_points_pv' (dataset scene_dir not set?)")
        points = batch["scene_points_pv"]
        if num is not None:
            points = points[:, :num]
        return points - transl_pv.unsqueeze(1)

    def camera_info(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(B, 6) `camera_condition` of the batch."""
        return camera_condition(batch["fx"], batch["cx"], batch["cy"], batch["bbox_center_px"], batch["bbox_size_px"])

    def encode(
        self, batch: Mapping[str, torch.Tensor], transl_pv: torch.Tensor
    ) -> tuple[DenoiserCondition, torch.Tensor]:
        """Backbone, PointNet, first-layer fold and betas, once per image.

        Args:
            batch: collated stage-2 samples (`egohmr.data.dataset.SAMPLE_FIELDS`).
            transl_pv: (B, 3) metres, PV frame: GT translation (training) or stage-1 translation (test).

        Returns:
            (condition with B rows, betas (B, 10)).
        """
        img_feat = self.image_features(batch)
        if self.training:
            img_feat = torch.nn.functional.dropout(img_feat, self.cfg.train_options.image_feature_dropout)
        scene_feat = self.scene_enc(self.scene_points_hc(batch, transl_pv, self.cfg.model.num_scene_points))
        cond = self.denoiser.encode_condition(img_feat, scene_feat, transl_pv, self.camera_info(batch))
        return cond, self.denoiser.predict_betas(cond)

    # ------------------------------------------------------------------ bodies
    def gt_body(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Gendered GT body with the GT translation: (vertices (B, V, 3), joints (B, 24, 3)), metres, PV frame."""
        bodies = self.bodies()
        gender = batch["gender"]
        betas, go, bp, tr = (
            batch["betas"],
            batch["global_orient_rotmat_pv"],
            batch["body_pose_rotmat"],
            batch["transl_pv"],
        )
        num_v = bodies["neutral"].num_vertices
        vertices = betas.new_zeros(betas.shape[0], num_v, 3)
        joints = betas.new_zeros(betas.shape[0], NUM_SMPL_JOINTS, 3)
        for code, name in ((0, "male"), (1, "female")):
            idx = torch.nonzero(gender == code).reshape(-1)
            if idx.numel():
                out = bodies[name](betas[idx], go[idx], bp[idx], tr[idx])
                vertices = vertices.index_copy(0, idx, out.vertices)
                joints = joints.index_copy(0, idx, out.joints)
        return vertices, joints

    # ------------------------------------------------------------------ training
    def condition_translation(self, transl_pv: torch.Tensor) -> torch.Tensor:
        """(B, 3) metres, PV frame: the GT translation plus `train_options.condition_transl_noise_std_m` noise.

        Stands in for the stage-1 translation the denoiser is conditioned on at test time.
        """
        std = transl_pv.new_tensor(self.cfg.train_options.condition_transl_noise_std_m)
        if not bool(std.any()):
            return transl_pv
        return transl_pv + torch.randn_like(transl_pv) * std

    def training_step(self, batch: Mapping[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        """Losses of one batch (engine protocol `egohmr.train.TrainableModel`)."""
        cfg, w = self.cfg, self.cfg.loss
        transl = batch["transl_pv"]
        batch_size = transl.shape[0]
        device = transl.device
        x0 = self.encode_gt_pose(batch["global_orient_rotmat_pv"], batch["body_pose_rotmat"])  # (B, 144)
        t = torch.randint(0, cfg.schedule.num_train_timesteps, (batch_size,), device=device)
        x_t = self.train_scheduler.q_sample(x0, t, torch.randn_like(x0))
        image_mask = torch.rand(batch_size, device=device) >= cfg.train_options.cond_mask_prob
        cond, pred_betas = self.encode(batch, self.condition_translation(transl))
        pred_x0 = self.denoiser.denoise(x_t, t, cond, batch["vis_smpl24"], image_mask)  # (B, 24, 6)
        rotmat, pose_6d = self.decode(pred_x0)
        body = self.bodies()["neutral"](pred_betas, rotmat[:, 0], rotmat[:, 1:])  # local frame
        gt_vertices, gt_joints = self.gt_body(batch)
        terms = {
            "loss_v2v": L.loss_v2v(body.vertices, body.joints, gt_vertices, gt_joints),
            "loss_keypoints_3d": L.loss_keypoints_3d(body.joints, gt_joints),
            "loss_keypoints_3d_full": L.loss_keypoints_3d_full(body.joints + transl.unsqueeze(1), gt_joints),
            "loss_keypoints_2d_full": L.loss_keypoints_2d_full(
                body.openpose25() + transl.unsqueeze(1),
                batch["kp2d_op25_full_px"],
                batch["fx"],
                batch["fy"],
                batch["cx"],
                batch["cy"],
                batch["img_size_px"],
            ),
            "loss_betas": L.loss_betas(pred_betas, batch["betas"]),
            "loss_body_pose": L.loss_body_pose(rotmat[:, 1:], batch["body_pose_rotmat"]),
            "loss_global_orient": L.loss_global_orient(rotmat[:, 0], batch["global_orient_rotmat_pv"]),
            "loss_pose_6d_ortho": L.loss_pose_6d_ortho(pose_6d),
        }
        if w.penetration > 0 and step >= cfg.train_options.penetration_start_step and "scene_points_pv" in batch:
            points_hc = self.scene_points_hc(batch, transl, None)
            terms["loss_penetration"] = L.loss_penetration(self.scorer(), points_hc, body.vertices)
        loss = sum(getattr(w, name[len("loss_") :]) * value for name, value in terms.items())
        return {"loss": loss, **{k: v.detach() for k, v in terms.items()}}

    def validation_step(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Official validation: ddim5 (configurable), no fuse, no guidance, one sample; MPJPE in mm."""
        from egohmr.evaluate.visibility import in_image_mask

        opts = self.cfg.train_options
        transl = batch["transl_pv"]
        cond, betas = self.encode(batch, transl)
        vis = batch["vis_smpl24"]
        scheduler = build_scheduler(self.cfg.schedule, opts.val_sampler, opts.val_spacing)
        x0 = sample(
            lambda x, t: self.denoiser.denoise(x, t, cond, vis),
            scheduler,
            None,
            (transl.shape[0], POSE_6D_DIM),
            dtype=transl.dtype,
            device=transl.device,
        )
        rotmat, _ = self.decode(x0)
        joints = self.bodies()["neutral"](betas, rotmat[:, 0], rotmat[:, 1:]).joints
        gt = batch["joints3d_pv"]
        err = ((joints - joints[:, :1]) - (gt - gt[:, :1])).norm(dim=-1)  # (B, 24) metres
        size = batch["img_size_px"][0]
        visible = in_image_mask(
            gt.detach().cpu().double(),
            batch["fx"].cpu(),
            batch["fy"].cpu(),
            batch["cx"].cpu(),
            batch["cy"].cpu(),
            image_size_px=(int(size[0]), int(size[1])),
            official=False,
        )
        visible = torch.from_numpy(visible).to(err.device)
        n_vis = visible.sum().clamp_min(1)
        return {
            "mpjpe_mm": MM_PER_M * err.mean(),
            "mpjpe_vis_mm": MM_PER_M * (err * visible).sum() / n_vis,
        }
