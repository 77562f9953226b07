"""`ProHMRScene`: the assembled stage-1 network (reference-egohmr.md section 2).

::

    img_crop (B,3,224,224) --backbone--> img_feat (B,D_img)        [or cached img_feat from egohmr.stage1.features]
    scene_points_pv (B,P,3) --scene_enc (ResNet-PointNet)--> scene_feat (B,D_scene)
    context (B,C) = [cx/fx, cy/fx | bcx/fx, bcy/fx, b/fx | fx/1500 | img_feat | scene_feat]
    flow (SMPLFlow): mode (z=0) + S-1 samples of 24x6D pose, FC head: betas, crop camera [s, tx, ty]
    crop camera --crop_cam_to_full_transl(real fx, principal point)--> transl_full_pv (B,S,3)

The module's state-dict keys follow the official checkpoint (`initialized`, `backbone.*`, `flow.*`, `scene_enc.*`,
`discriminator.*`); body models used by the losses are attached with non-persistent buffers, so they never enter a
checkpoint (the official file also stores `smpl*` keys, which the importer drops). Training hooks for
`egohmr.train.train` (`training_step`, `validation_step`, `on_train_start`, `auxiliary_step`) live in
`egohmr.stage1.objective` and are bound here.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping

import torch
from torch import nn

from egohmr.geometry.cameras import crop_cam_to_full_transl
from egohmr.geometry.rotations import rot6d_to_rotmat
from egohmr.models import build_backbone
from egohmr.models.flow import SMPLFlow
from egohmr.models.scene_encoder import ResnetPointnet
from egohmr.stage1 import objective
from egohmr.stage1.config import LossWeights, Stage1ModelConfig
from egohmr.stage1.discriminator import PoseDiscriminator

__all__ = ["ProHMRScene", "Stage1Output", "build_context"]

logger = logging.getLogger(__name__)

NUM_POSE_JOINTS = 24
POSE_DIM = NUM_POSE_JOINTS * 6


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
            features=POSE_DIM,
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

    def predict(
        self,
        context: torch.Tensor,
        batch: Mapping[str, torch.Tensor],
        num_samples: int,
        z: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Stage1Output:
        """Mode plus `num_samples - 1` samples from a context, in one batched flow call.

        Args:
            context: (B, C) float.
            batch: needs fx, cx, cy (B,), bbox_center_px (B, 2), bbox_size_px (B,).
            num_samples: S >= 1.
            z: optional (B, S-1, 144) latents of the random samples.
            generator: RNG of the latents when `z` is None.
        """
        s = self.flow.sample(context, num_samples, z=z, generator=generator)
        b = context.shape[0]
        rotmat = rot6d_to_rotmat(s.pose_6d.reshape(b, num_samples, NUM_POSE_JOINTS, 6), order="col")
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

    # ------------------------------------------------------------------------------------------------ training
    # The engine's hooks (egohmr.train.TrainableModel); the maths lives in egohmr.stage1.objective.
    def training_step(self, batch: Mapping[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        """Weighted stage-1 loss of one batch (`objective.training_step`)."""
        return objective.training_step(self, batch, step)

    def validation_step(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Validation losses and metrics of one batch (`objective.validation_step`)."""
        return objective.validation_step(self, batch)

    def on_train_start(self, first_batch: Mapping[str, torch.Tensor]) -> None:
        """ActNorm data-dependent initialisation from the first batch's GT poses (`objective.on_train_start`)."""
        objective.on_train_start(self, first_batch)

    def auxiliary_step(self, batch: Mapping[str, torch.Tensor], step: int) -> dict[str, float]:
        """Discriminator update of the adversarial prior; no-op without it (`objective.auxiliary_step`)."""
        return objective.auxiliary_step(self, batch, step)

    def train_state_dict(self) -> dict:
        """Extra training state (discriminator optimizer, mocap RNG) for exact resume."""
        return objective.train_state_dict(self)

    def load_train_state_dict(self, state: dict) -> None:
        """Restore `train_state_dict`."""
        objective.load_train_state_dict(self, state)
