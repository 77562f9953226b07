"""`ProHMRScene`: the assembled stage-1 network (reference-egohmr.md section 2).

::

    img_crop (B,3,224,224) --backbone--> img_feat (B,D_img)        [or cached img_feat, egohmr.data.feature_cache]
    scene_points_pv (B,P,3) --scene_enc (ResNet-PointNet)--> scene_feat (B,D_scene)
    context (B,C) = [cx/fx, cy/fx | bcx/fx, bcy/fx, b/fx | fx/1500 | img_feat | scene_feat]
    flow (SMPLFlow): mode (z=0) + S-1 samples of 24x6D pose, FC head: betas, crop camera [s, tx, ty]
    crop camera --crop_cam_to_full_transl(real fx, principal point)--> transl_full_pv (B,S,3)

The module's state-dict keys follow the official checkpoint (`initialized`, `backbone.*`, `flow.*`, `scene_enc.*`,
`discriminator.*`); body models used by the losses are attached with non-persistent buffers, so they never enter a
checkpoint (the official file also stores `smpl*` keys, which the importer drops).

Training and validation steps (the hooks of `egohmr.train.train`) follow the official `compute_loss`
(reference-egohmr.md section 2): the mode and `num_train_samples - 1` random samples are drawn with gradients (with
`model.train_flow_passes="official_two_pass"`, in two flow passes as the official code: the random samples, then the
modes; `ProHMRScene.sample_flow`); the NLL
uses the GT pose plus N(0, 0.005^2) noise; joints and vertices come from the neutral body for the predictions and the
gendered body for the GT mesh; the 3D joint targets are the annotation's `joints3d_pv`. The optional adversarial prior
(`egohmr.stage1.discriminator.AdversarialPrior`, trained on CMU mocap with its own AdamW) runs only when
`model.mocap_path` is configured.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from egohmr.constants import MM_PER_M, NUM_SMPL_JOINTS, POSE_6D_DIM
from egohmr.geometry.cameras import crop_cam_to_full_transl
from egohmr.geometry.rotations import rot6d_to_rotmat, rotmat_to_rot6d
from egohmr.models import build_backbone
from egohmr.models.flow import SMPLFlow, SMPLFlowSample, standard_normal_log_prob
from egohmr.models.scene_encoder import ResnetPointnet
from egohmr.stage1 import losses as L
from egohmr.stage1.config import LossWeights, Stage1ModelConfig
from egohmr.stage1.discriminator import AdversarialPrior, PoseDiscriminator

__all__ = ["ProHMRScene", "Stage1Output", "build_context", "gt_pose_6d", "gt_pose_rotmat"]

logger = logging.getLogger(__name__)

INIT_NOISE_STD_MIN = 1e-3
"""Least noise std added to the GT poses of the ActNorm initialisation batch."""
_BODY_TERMS = ("keypoints_2d_full", "keypoints_3d", "keypoints_3d_full", "v2v")


def build_context(
    fx: torch.Tensor,
    cx: torch.Tensor,
    cy: torch.Tensor,
    bbox_center_px: torch.Tensor,
    bbox_size_px: torch.Tensor,
    img_feat: torch.Tensor,
    scene_feat: torch.Tensor,
    fx_norm_px: float,
) -> torch.Tensor:
    """Flow/head conditioning vector in the official order (reference-egohmr.md section 2, "Fusion").

    Args:
        fx, cx, cy: (B,) float px intrinsics of the (augmented) view.
        bbox_center_px: (B, 2) float px crop-box centre, full image.
        bbox_size_px: (B,) float px crop-box side.
        img_feat: (B, D_img) float image feature.
        scene_feat: (B, D_scene) float scene feature.
        fx_norm_px: normaliser of fx (official 1500).

    Returns:
        (B, 6 + D_img + D_scene) float: ``[cx/fx, cy/fx | bcx/fx, bcy/fx, b/fx | fx/fx_norm | img | scene]``.
    """
    cam_center = torch.stack([cx / fx, cy / fx], dim=1)  # (B, 2)
    bbox_info = torch.stack([bbox_center_px[:, 0] / fx, bbox_center_px[:, 1] / fx, bbox_size_px / fx], dim=1)
    fx_norm = (fx / fx_norm_px)[:, None]  # (B, 1)
    parts = [cam_center, bbox_info, fx_norm, img_feat, scene_feat]
    return torch.cat([p.to(img_feat.dtype) for p in parts], dim=1)


def gt_pose_rotmat(batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """(B, 24, 3, 3) GT rotations: global orientation (PV frame) then the 23 body joints."""
    return torch.cat([batch["global_orient_rotmat_pv"][:, None], batch["body_pose_rotmat"]], dim=1)


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


@dataclasses.dataclass
class Stage1Output:
    """Stage-1 prediction for B images and S samples each; sample 0 is the mode (z = 0).

    Attributes:
        context: (B, C) float conditioning vector.
        pose_6d: (B, S, 144) float, 24 x 6D "col" order, joint 0 = global orientation in the PV frame.
        pose_rotmat: (B, S, 24, 3, 3) float rotation matrices (joint 0 global orientation, PV frame).
        log_prob: (B, S) float flow log-density of each sample.
        betas: (B, S, 10) float neutral-body shape (identical along S).
        cam_crop: (B, S, 3) float weak-perspective crop camera ``[s, tx, ty]`` (identical along S).
        transl_full_pv: (B, S, 3) float, metres, PV frame: body translation from the crop camera with the real focal
            length and principal point. ``transl_full_pv[:, 0]`` is what stage 2 consumes.
    """

    context: torch.Tensor
    pose_6d: torch.Tensor
    pose_rotmat: torch.Tensor
    log_prob: torch.Tensor
    betas: torch.Tensor
    cam_crop: torch.Tensor
    transl_full_pv: torch.Tensor

    @property
    def global_orient_rotmat(self) -> torch.Tensor:
        """(B, S, 3, 3) float, SMPL local -> PV frame."""
        return self.pose_rotmat[:, :, 0]

    @property
    def body_pose_rotmat(self) -> torch.Tensor:
        """(B, S, 23, 3, 3) float."""
        return self.pose_rotmat[:, :, 1:]


def _non_persistent(module: nn.Module) -> nn.Module:
    """Mark every buffer of `module` (recursively) non-persistent: moved by `.to()`, left out of `state_dict()`."""
    for sub in module.modules():
        sub._non_persistent_buffers_set.update(sub._buffers.keys())
    return module


class ProHMRScene(nn.Module):
    """Stage-1 model: backbone + ResNet-PointNet + conditional flow with FC head (+ optional discriminator).

    Args:
        cfg: architecture (`Stage1ModelConfig`).
        loss_weights: loss weights for training/validation (`LossWeights`; official values by default).
    """

    def __init__(self, cfg: Stage1ModelConfig, loss_weights: LossWeights | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.loss_weights = loss_weights or LossWeights()
        # Registration order = official state-dict order: initialized, backbone, flow, scene_enc, discriminator.
        self.register_buffer("initialized", torch.tensor(False, dtype=torch.bool))
        self.backbone, feat_dim = build_backbone(cfg.backbone, cfg.backbone_pretrained)
        if feat_dim != cfg.img_feat_dim:
            raise ValueError(f"backbone {cfg.backbone!r} gives {feat_dim}-d features, config says {cfg.img_feat_dim}")
        self.flow = SMPLFlow(
            context_features=cfg.context_dim,
            features=POSE_6D_DIM,
            hidden_features=cfg.flow_hidden,
            num_layers=cfg.flow_num_layers,
            num_blocks_per_layer=cfg.flow_blocks_per_layer,
            head_hidden=cfg.head_hidden,
            dropout=cfg.flow_dropout,
        )
        self.scene_enc = ResnetPointnet(
            out_dim=cfg.scene_feat_dim, hidden_dim=cfg.scene_hidden_dim, num_blocks=cfg.scene_num_blocks
        )
        self.discriminator: PoseDiscriminator | None = PoseDiscriminator() if cfg.mocap_path else None
        self.adversarial: AdversarialPrior | None = None
        """Training state of the adversarial prior (with `model.mocap_path`); not part of the state dict."""
        if self.discriminator is not None and cfg.mocap_path is not None:
            self.adversarial = AdversarialPrior(self.discriminator, cfg.mocap_path, self.loss_weights.adversarial)
        if cfg.freeze_backbone:
            self.backbone.requires_grad_(False)
        classifier = getattr(self.backbone, "_fc", None)  # EfficientNet's ImageNet classifier: kept, never used
        if isinstance(classifier, nn.Module):
            classifier.requires_grad_(False)
        self.bodies: nn.ModuleDict | None = None

    # ------------------------------------------------------------------------------------------------ set-up
    def attach_body_models(self, neutral: nn.Module, male: nn.Module, female: nn.Module) -> None:
        """Attach the body models of the losses (neutral: predictions; male/female: GT), outside the state dict."""
        self.bodies = nn.ModuleDict(
            {"neutral": _non_persistent(neutral), "male": _non_persistent(male), "female": _non_persistent(female)}
        )

    def train(self, mode: bool = True) -> ProHMRScene:
        """Like `nn.Module.train`, but a frozen backbone stays in eval mode (fixed BatchNorm statistics)."""
        super().train(mode)
        if self.cfg.freeze_backbone:
            self.backbone.eval()
        return self

    def parameter_groups(self) -> list[dict]:
        """AdamW groups for the engine: backbone (unless frozen), flow and scene encoder (not the discriminator,
        which has its own optimizer)."""
        params = [p for name, p in self.named_parameters() if p.requires_grad and not name.startswith("discriminator.")]
        return [{"params": params}]

    # ------------------------------------------------------------------------------------------------ forward
    def image_features(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(B, D_img) image features: the batch's cached `img_feat`, else the backbone on `img_crop`."""
        if "img_feat" in batch:
            return batch["img_feat"]
        if "img_crop" not in batch:
            raise KeyError("stage-1 batch needs 'img_crop' (images loaded) or 'img_feat' (cached features)")
        if self.cfg.freeze_backbone:
            with torch.no_grad():
                return self.backbone(batch["img_crop"])
        return self.backbone(batch["img_crop"])

    def context(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(B, C) conditioning vector of a batch (keys of `egohmr.data.dataset.SAMPLE_FIELDS`)."""
        if "scene_points_pv" not in batch:
            raise KeyError(
                "stage-1 batch needs 'scene_points_pv' (set data.scene_dir / run `egohmr preprocess scene-s1`)"
            )
        img_feat = self.image_features(batch)
        scene_feat = self.scene_enc(batch["scene_points_pv"])
        return build_context(
            batch["fx"],
            batch["cx"],
            batch["cy"],
            batch["bbox_center_px"],
            batch["bbox_size_px"],
            img_feat,
            scene_feat,
            self.cfg.fx_norm_px,
        )

    def sample_flow(
        self,
        context: torch.Tensor,
        num_samples: int,
        z: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> SMPLFlowSample:
        """Flow and head outputs of the mode plus `num_samples - 1` random samples, mode first.

        In training mode with `model.train_flow_passes="official_two_pass"` (and S > 1) the flow runs twice, as the
        official `forward_step`: first the B x (S-1) random rows (latents drawn first), then the B modes (z = 0). The
        conditioner's BatchNorm normalises each pass with its own batch statistics and updates its running statistics
        once per pass. Otherwise one batched pass over the B x S rows (`SMPLFlow.sample`).

        Args:
            context: (B, C) float.
            num_samples: S >= 1.
            z: optional (B, S-1, 144) latents of the random samples.
            generator: RNG of the latents when `z` is None.
        """
        two_pass = self.flow.training and self.cfg.train_flow_passes == "official_two_pass" and num_samples > 1
        if not two_pass:
            return self.flow.sample(context, num_samples, z=z, generator=generator)
        b, d = context.shape[0], POSE_6D_DIM
        if z is None:
            z = torch.randn((b, num_samples - 1, d), generator=generator, dtype=context.dtype, device=context.device)
        elif tuple(z.shape) != (b, num_samples - 1, d):
            raise ValueError(f"z must have shape (B, S - 1, 144) = {(b, num_samples - 1, d)}, got {tuple(z.shape)}")
        z = z.to(context.dtype)
        pose_rand, log_prob_rand = self._flow_pass(context, z)
        pose_mode, log_prob_mode = self._flow_pass(context, z.new_zeros(b, 1, d))
        head = self.flow.fc_head(context, num_samples)
        return SMPLFlowSample(
            pose_6d=torch.cat([pose_mode, pose_rand], dim=1),
            log_prob=torch.cat([log_prob_mode, log_prob_rand], dim=1),
            z=torch.cat([z.new_zeros(b, 1, d), z], dim=1),
            betas=head.betas,
            cam_crop=head.cam_crop,
        )

    def _flow_pass(self, context: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One noise -> data pass of the flow over B x K rows (row b * K + k: image b, latent k).

        Args:
            context: (B, C) float.
            z: (B, K, 144) float latents.

        Returns:
            pose_6d (B, K, 144) and log_prob (B, K) = log N(z) - log|det df^-1/dz|.
        """
        b, k, d = z.shape
        x, logabsdet_inv = self.flow.flow.transform_to_data(z.reshape(b * k, d), context.repeat_interleave(k, dim=0))
        log_prob = standard_normal_log_prob(z).reshape(b * k) - logabsdet_inv
        return x.reshape(b, k, d), log_prob.reshape(b, k)

    def predict(
        self,
        context: torch.Tensor,
        batch: Mapping[str, torch.Tensor],
        num_samples: int,
        z: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Stage1Output:
        """Mode plus `num_samples - 1` samples from a context (flow passes: `sample_flow`).

        Args:
            context: (B, C) float.
            batch: needs fx, cx, cy (B,), bbox_center_px (B, 2), bbox_size_px (B,).
            num_samples: S >= 1.
            z: optional (B, S-1, 144) latents of the random samples.
            generator: RNG of the latents when `z` is None.
        """
        s = self.sample_flow(context, num_samples, z=z, generator=generator)
        b = context.shape[0]
        rotmat = rot6d_to_rotmat(s.pose_6d.reshape(b, num_samples, NUM_SMPL_JOINTS, 6), order="col")
        transl = crop_cam_to_full_transl(
            s.cam_crop,
            batch["bbox_center_px"][:, None, :].to(s.cam_crop.dtype),
            batch["bbox_size_px"][:, None].to(s.cam_crop.dtype),
            batch["fx"][:, None].to(s.cam_crop.dtype),
            batch["cx"][:, None].to(s.cam_crop.dtype),
            batch["cy"][:, None].to(s.cam_crop.dtype),
        )  # (B, S, 3)
        return Stage1Output(
            context=context,
            pose_6d=s.pose_6d,
            pose_rotmat=rotmat,
            log_prob=s.log_prob,
            betas=s.betas,
            cam_crop=s.cam_crop,
            transl_full_pv=transl,
        )

    def forward(
        self,
        batch: Mapping[str, torch.Tensor],
        num_samples: int = 1,
        z: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Stage1Output:
        """Predict S samples per image (sample 0 = mode).

        Args:
            batch: collated samples (`SAMPLE_FIELDS` keys; `img_crop` or `img_feat`, `scene_points_pv`, camera, box).
            num_samples: S >= 1.
            z: optional (B, S-1, 144) latents of the random samples.
            generator: RNG of the latents when `z` is None.

        Returns:
            Stage1Output.
        """
        return self.predict(self.context(batch), batch, num_samples, z=z, generator=generator)

    # ------------------------------------------------------------------------------------------------ losses
    def _require_bodies(self) -> nn.ModuleDict:
        if self.bodies is None:
            raise RuntimeError("ProHMRScene has no body models: call attach_body_models(neutral, male, female) first")
        return self.bodies

    def _pose_bodies(self, batch: Mapping[str, torch.Tensor], out: Stage1Output, num: int) -> _Bodies:
        bodies = self._require_bodies()
        b = out.betas.shape[0]
        rot = out.pose_rotmat[:, :num]  # (B, S', 24, 3, 3)
        pred = bodies["neutral"](
            out.betas[:, :num].reshape(b * num, -1), rot[:, :, 0].reshape(-1, 3, 3), rot[:, :, 1:].reshape(-1, 23, 3, 3)
        )
        with torch.no_grad():
            args = (batch["betas"], batch["global_orient_rotmat_pv"], batch["body_pose_rotmat"])
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

    def _terms(self, batch: Mapping[str, torch.Tensor], out: Stage1Output) -> tuple[dict[str, torch.Tensor], _Bodies]:
        """Per-sample loss terms (B, S or 1) and the posed bodies."""
        w = self.loss_weights
        num_samples = out.betas.shape[1]
        need_exp = any(getattr(w, f"{t}_exp") > 0 for t in _BODY_TERMS)
        num = num_samples if need_exp else 1
        bodies = self._pose_bodies(batch, out, num)
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

    # ------------------------------------------------------------------------------------------------ training
    # The engine's hooks (egohmr.train.TrainableModel).
    def training_step(self, batch: Mapping[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        """Weighted loss of one training batch.

        Returns:
            {"loss": () total, "loss_<term>[_mode|_exp]": () each term} (egohmr.stage1.losses.combine_losses).
        """
        context = self.context(batch)
        out = self.predict(context, batch, self.cfg.num_train_samples)
        gt6 = gt_pose_6d(batch)
        noisy = gt6 + self.cfg.pose_noise_std * torch.randn_like(gt6)  # engine-seeded global RNG (like dropout)
        scalars = {"nll": L.loss_nll(self.flow.log_prob(noisy, context))}
        per_sample, _ = self._terms(batch, out)
        if self.adversarial is not None:
            b, s = out.betas.shape[:2]
            fake_pose = out.body_pose_rotmat.reshape(b * s, 23, 3, 3)
            scalars["adversarial"] = self.adversarial.generator_loss(fake_pose, out.betas.reshape(b * s, -1), b)
        return L.combine_losses(per_sample, scalars, self.loss_weights)

    def validation_step(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Losses (NLL without noise) and mode-sample metrics of one validation batch.

        Returns:
            Loss terms as in `training_step` plus `mpjpe_mm` (pelvis-aligned), `g_mpjpe_mm` (camera frame) and
            `transl_err_mm` (mode translation vs GT `transl_pv`), means over the batch.
        """
        context = self.context(batch)
        out = self.predict(context, batch, self.cfg.num_train_samples)
        scalars = {"nll": L.loss_nll(self.flow.log_prob(gt_pose_6d(batch), context))}
        per_sample, bodies = self._terms(batch, out)
        result = L.combine_losses(per_sample, scalars, self.loss_weights)
        gt_j = batch["joints3d_pv"]
        pj = bodies.joints[:, 0]  # (B, 24, 3) mode
        aligned = (pj - pj[:, :1]) - (gt_j - gt_j[:, :1])
        result["mpjpe_mm"] = MM_PER_M * aligned.norm(dim=-1).mean()
        result["g_mpjpe_mm"] = MM_PER_M * (pj + out.transl_full_pv[:, 0, None] - gt_j).norm(dim=-1).mean()
        result["transl_err_mm"] = MM_PER_M * (out.transl_full_pv[:, 0] - batch["transl_pv"]).norm(dim=-1).mean()
        return result

    def on_train_start(self, first_batch: Mapping[str, torch.Tensor]) -> None:
        """Data-dependent ActNorm initialisation with the first batch's GT poses (official `initialize`), once.

        The poses carry the same Gaussian noise as the NLL target (at least `INIT_NOISE_STD_MIN`): a 6D entry that is
        constant over the batch (a hinge joint that only ever bends about one axis, as in the synthetic data, gives
        exactly constant entries) would otherwise get std 0 and an infinite ActNorm scale.
        """
        if bool(self.initialized):
            return
        was_training = self.training
        self.train()
        with torch.no_grad():
            gt6 = gt_pose_6d(first_batch)
            noisy = gt6 + max(self.cfg.pose_noise_std, INIT_NOISE_STD_MIN) * torch.randn_like(gt6)
            self.flow.log_prob(noisy, self.context(first_batch))
        self.initialized.fill_(True)
        self.train(was_training)
        if self.adversarial is None:
            logger.info("training without the adversarial pose prior (model.mocap_path is not set)")

    def auxiliary_step(self, batch: Mapping[str, torch.Tensor], step: int) -> dict[str, float]:
        """Discriminator update of the adversarial prior (`AdversarialPrior.update`); no-op without it."""
        return self.adversarial.update() if self.adversarial is not None else {}

    def train_state_dict(self) -> dict[str, Any]:
        """Extra training state (discriminator optimizer, mocap walk) for exact resume; {} without the prior."""
        return self.adversarial.state_dict() if self.adversarial is not None else {}

    def load_train_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore `train_state_dict`."""
        if self.adversarial is not None and state:
            self.adversarial.load_state_dict(state)
