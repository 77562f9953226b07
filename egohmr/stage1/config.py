"""Stage-1 ("ProHMR-scene") configuration: model, loss weights, data and training, with the two presets.

Resolution order (`load_stage1_config`): preset (`official` or `cpu`) or defaults <- YAML override file <- `--set`
overrides. Defaults are the official values (reference-egohmr.md section 2 and `configs/prohmr.yaml`); the `cpu`
preset trades size for speed so that a run on a 2-core CPU learns something within about 25 minutes
(docs/stage1.md explains each choice).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from egohmr.config.core import ConfigError, load_config
from egohmr.config.layout import SCENE_S1_DIR
from egohmr.constants import CROP_SIZE_PX, FX_NORM_PX
from egohmr.train.config import OFFICIAL_STAGE1_TRAIN, TrainConfig, validate_train_config

__all__ = [
    "CHECKPOINT_KIND",
    "PRESETS",
    "LossWeights",
    "Stage1Config",
    "Stage1DataConfig",
    "Stage1ModelConfig",
    "cpu_preset",
    "load_stage1_config",
    "official_preset",
]

CHECKPOINT_KIND = "egohmr.stage1"
"""`kind` of our stage-1 checkpoints (egohmr.train.checkpoint)."""

BACKBONE_FEAT_DIMS: dict[str, int] = {"resnet50": 2048, "efficientnet_lite0": 1280}
"""Image feature size D_img of each backbone (egohmr.models.build_backbone)."""


@dataclasses.dataclass(frozen=True)
class Stage1ModelConfig:
    """Architecture of `ProHMRScene` (official values from reference-egohmr.md section 2)."""

    backbone: Literal["resnet50", "efficientnet_lite0"] = "resnet50"
    """Image backbone: official ResNet-50 (2048-d) or EfficientNet-Lite0 (1280-d, offline ImageNet weights)."""
    backbone_pretrained: bool = False
    """Load ImageNet weights (EfficientNet-Lite0 only; ResNet-50 weights come from `prohmr_checkpoint`)."""
    freeze_backbone: bool = False
    """Keep the backbone fixed (eval-mode BatchNorm, no gradients)."""
    cached_features: bool = False
    """Train on image features computed once per crop by `egohmr.data.feature_cache` (needs `freeze_backbone`;
    no image augmentation then)."""
    prohmr_checkpoint: str | None = None
    """ProHMR `checkpoints.pt` (Lightning) whose `backbone.*` weights initialise the backbone (official training)."""
    image_size_px: int = CROP_SIZE_PX
    """Crop side S in px (official MODEL.IMAGE_SIZE)."""
    scene_feat_dim: int = 512
    """PointNet output size D_scene (official 512)."""
    scene_hidden_dim: int = 256
    """PointNet residual-block width (official 256)."""
    scene_num_blocks: int = 4
    """PointNet residual blocks (official 4)."""
    num_scene_points: int = 20000
    """Scene points per frame fed to the PointNet; fewer than stored are drawn at random without replacement with a
    generator seeded per frame (official 20000 = all stored points)."""
    flow_hidden: int = 1024
    """Flow conditioner width (official 1024)."""
    flow_num_layers: int = 4
    """Glow layers (official 4)."""
    flow_blocks_per_layer: int = 2
    """Residual blocks per conditioner (official 2)."""
    flow_dropout: float = 0.5
    """Conditioner dropout (official 0.5, the ConditionalGlow default)."""
    head_hidden: int = 1024
    """FC head hidden size (official 1024)."""
    fx_norm_px: float = FX_NORM_PX
    """Focal-length normaliser of the context's fx entry, px (official CAM.FX_NORM_COEFF 1500)."""
    num_train_samples: int = 2
    """Samples per image in training: the mode plus random ones (official NUM_TRAIN_SAMPLES 2)."""
    train_flow_passes: Literal["official_two_pass", "one_pass"] = "official_two_pass"
    """How the training forward groups the flow's rows (the conditioner's BatchNorm uses batch statistics there):
    `official_two_pass` runs the B x (S-1) random samples, then the B modes (z = 0), as the official code does (two
    BatchNorm updates per step); `one_pass` runs all B x S rows at once (one update, faster, not the official
    gradients). Evaluation mode always uses one pass (running statistics: the outputs agree)."""
    num_test_samples: int = 5
    """Samples per image at test time (official test script --num_samples 5)."""
    pose_noise_std: float = 0.005
    """Std of the Gaussian noise added to the GT 6D pose for the NLL term in training (official
    SMPL_PARAM_NOISE_RATIO 0.005)."""
    body_model: str = "data/smpl"
    """Body model of the losses: an SMPL folder (official: data/smpl), 'open' or 'open-lowres' (packaged open body);
    neutral for predictions, male/female for the GT."""
    mocap_path: str | None = None
    """ProHMR `cmu_mocap.npz` for the adversarial pose prior; None trains without it (logged)."""

    @property
    def img_feat_dim(self) -> int:
        """D_img of the configured backbone."""
        return BACKBONE_FEAT_DIMS[self.backbone]

    @property
    def context_dim(self) -> int:
        """C = 2 (cam centre) + 3 (bbox) + 1 (fx) + D_img + D_scene (official 2566)."""
        return 6 + self.img_feat_dim + self.scene_feat_dim


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """Loss weights (official `configs/prohmr.yaml` LOSS_WEIGHTS; reference-egohmr.md section 2).

    Each field `<term>`, `<term>_mode` or `<term>_exp` weights the function `egohmr.stage1.losses.loss_<term>`:
    `_mode` on the mode sample (z = 0), `_exp` on the mean of the random samples. The official TRANSL weight is left
    out because no translation loss exists.
    """

    nll: float = 0.001
    """Negative log-likelihood of the (noised) GT pose."""
    orthogonal: float = 0.1
    """6D orthogonality of every sample (mode and random samples alike)."""
    keypoints_2d_full_mode: float = 0.01
    """Full-image 2D OpenPose keypoints, mode sample."""
    keypoints_2d_full_exp: float = 0.001
    """Full-image 2D OpenPose keypoints, random samples."""
    keypoints_3d_mode: float = 0.05
    """Pelvis-aligned 3D joints, mode sample."""
    keypoints_3d_exp: float = 0.0
    """Pelvis-aligned 3D joints, random samples."""
    keypoints_3d_full_mode: float = 0.02
    """Camera-frame 3D joints with the predicted translation, mode sample."""
    keypoints_3d_full_exp: float = 0.0
    """Camera-frame 3D joints, random samples."""
    v2v_mode: float = 0.5
    """Pelvis-aligned vertices vs the gendered GT mesh, mode sample."""
    v2v_exp: float = 0.0
    """Pelvis-aligned vertices, random samples."""
    global_orient_mode: float = 0.001
    """Rotation-matrix MSE of the global orientation, mode sample."""
    global_orient_exp: float = 0.0
    """Same, random samples."""
    body_pose_mode: float = 0.001
    """Rotation-matrix MSE of the 23 body joints, mode sample."""
    body_pose_exp: float = 0.0
    """Same, random samples."""
    betas_mode: float = 0.0005
    """Betas MSE, mode sample."""
    betas_exp: float = 0.0
    """Betas MSE, random samples."""
    adversarial: float = 0.0005
    """LSGAN pose prior (generator and discriminator); used only when `model.mocap_path` is set."""


@dataclasses.dataclass(frozen=True)
class Stage1DataConfig:
    """Where the data lives and how it is read."""

    root: str = "data/egobody_release"
    """EgoBody root (official tree; `egohmr synth` writes the same layout)."""
    scene_dir: str | None = None
    """Folder of `pcd_verts_dict_<split>.pkl` / `map_dict_<split>.pkl` (`egohmr preprocess scene-s1`); None:
    `<root>/preprocess_scene_s1`."""
    feature_dir: str | None = None
    """Folder of cached image features (`model.cached_features`); None: `<root>/features_stage1_<backbone>`."""
    bbox_enlarge: float = 1.2
    """Crop box side factor on scale * 200 (official --add_bbox_scale 1.2)."""
    augment: bool = True
    """Training augmentation (official: on). With cached image features it applies only through
    `feature_views`."""
    feature_views: int = 1
    """K, views per training frame in the image-feature cache (`model.cached_features`): view 0 is the un-augmented
    crop, views 1..K-1 fixed augmented crops (needs `augment`); each epoch trains on one view per frame with that
    view's geometry. 1: un-augmented features only (no augmentation)."""
    train_split: Literal["train", "val", "test"] = "train"
    """Split to train on."""
    val_split: Literal["train", "val", "test"] = "val"
    """Split to validate on."""
    val_spacing: int = 1
    """Validate on every k-th frame of the validation split."""

    def resolved_scene_dir(self) -> str:
        """The stage-1 scene folder (default `<root>/preprocess_scene_s1`)."""
        return self.scene_dir if self.scene_dir is not None else str(Path(self.root) / SCENE_S1_DIR)

    def resolved_feature_dir(self, backbone: str) -> str:
        """The cached-feature folder (default `<root>/features_stage1_<backbone>`)."""
        return (
            self.feature_dir if self.feature_dir is not None else str(Path(self.root) / f"features_stage1_{backbone}")
        )


@dataclasses.dataclass(frozen=True)
class Stage1Config:
    """Everything a stage-1 run needs; saved in every checkpoint (architecture is read back from there)."""

    model: Stage1ModelConfig = dataclasses.field(default_factory=Stage1ModelConfig)
    loss: LossWeights = dataclasses.field(default_factory=LossWeights)
    data: Stage1DataConfig = dataclasses.field(default_factory=Stage1DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=lambda: OFFICIAL_STAGE1_TRAIN)

    def __post_init__(self) -> None:
        """Check cross-field constraints.

        Raises:
            ConfigError: naming the field, the value and the fix.
        """
        validate_train_config(self.train)
        m = self.model
        if m.cached_features and not m.freeze_backbone:
            raise ConfigError(
                "model.cached_features=true needs model.freeze_backbone=true "
                "(cached features come from a fixed backbone)"
            )
        if m.backbone_pretrained and m.backbone == "resnet50":
            raise ConfigError(
                "model.backbone_pretrained=true is only available for efficientnet_lite0; for resnet50 set "
                "model.prohmr_checkpoint to ProHMR's checkpoints.pt"
            )
        if m.num_train_samples < 1 or m.num_test_samples < 1:
            raise ConfigError(
                f"model.num_train_samples and model.num_test_samples must be >= 1, got {m.num_train_samples}, "
                f"{m.num_test_samples}"
            )
        if m.num_scene_points < 1:
            raise ConfigError(f"model.num_scene_points must be >= 1, got {m.num_scene_points}")
        if m.flow_num_layers < 1 or m.flow_blocks_per_layer < 1 or m.scene_num_blocks < 1:
            raise ConfigError(
                "model.flow_num_layers, model.flow_blocks_per_layer and model.scene_num_blocks must be >= 1"
            )
        if not 0.0 <= m.flow_dropout < 1.0:
            raise ConfigError(f"model.flow_dropout must be in [0, 1), got {m.flow_dropout}")
        negative = [f.name for f in dataclasses.fields(self.loss) if getattr(self.loss, f.name) < 0]
        if negative:
            raise ConfigError(f"loss weights must be >= 0, got negative {negative}")
        if self.data.val_spacing < 1:
            raise ConfigError(f"data.val_spacing must be >= 1, got {self.data.val_spacing}")
        if self.data.feature_views < 1:
            raise ConfigError(f"data.feature_views must be >= 1, got {self.data.feature_views}")
        if self.data.feature_views > 1 and not (m.cached_features and self.data.augment):
            raise ConfigError(
                f"data.feature_views={self.data.feature_views} (augmented views of cached image features) needs "
                "model.cached_features=true and data.augment=true"
            )


def official_preset() -> Stage1Config:
    """Paper settings: ResNet-50 (ProHMR init when given), 20,000 points, flow 144/1024/4 layers/2 blocks, context
    2566, AdamW 1e-4 / 1e-4, batch 16, validation every 2000 updates, best by val `loss_keypoints_3d_mode`."""
    return Stage1Config(
        train=dataclasses.replace(OFFICIAL_STAGE1_TRAIN, out_dir=Path("outputs/stage1_official")),
    )


def cpu_preset() -> Stage1Config:
    """A small configuration for a 2-core CPU (docs/stage1.md, "Presets"): frozen pretrained EfficientNet-Lite0 with
    cached features, a 4x narrower PointNet on 1024 random points, a 256-wide flow trained with one batched flow pass,
    the low-resolution open body."""
    return Stage1Config(
        model=Stage1ModelConfig(
            backbone="efficientnet_lite0",
            backbone_pretrained=True,
            freeze_backbone=True,
            cached_features=True,
            scene_feat_dim=128,
            scene_hidden_dim=64,
            num_scene_points=1024,
            flow_hidden=256,
            head_hidden=256,
            flow_dropout=0.1,
            train_flow_passes="one_pass",  # the recipe the packaged stage1_cpu.pt was trained with
            body_model="open-lowres",
        ),
        data=Stage1DataConfig(root="data/synth", augment=False, val_spacing=2),
        train=dataclasses.replace(
            OFFICIAL_STAGE1_TRAIN,
            batch_size=32,
            num_workers=1,
            lr=3e-4,
            lr_schedule="cosine",
            warmup_steps=100,
            min_lr=1e-5,
            max_steps=3000,
            grad_clip_norm=10.0,
            val_every_steps=500,
            ckpt_every_steps=250,
            log_every_steps=25,
            out_dir=Path("outputs/stage1_cpu"),
        ),
    )


PRESETS = {"official": official_preset, "cpu": cpu_preset}
"""Named presets for `--config`."""


def load_stage1_config(source: str | Path | None = None, overrides: Sequence[str] = ()) -> Stage1Config:
    """Resolve a stage-1 config from a preset name or YAML file plus `key.path=value` overrides (validated when built).

    Args:
        source: "official", "cpu", a YAML override file (may start from a preset with `preset: NAME`) or None
            (official defaults).
        overrides: e.g. `["train.max_steps=10", "data.root=/data/egobody"]`.

    Raises:
        ConfigError: unknown key, wrong type or a value out of range. FileNotFoundError: missing YAML file.
    """
    presets = {name: make() for name, make in PRESETS.items()}
    return load_config(Stage1Config, source, overrides, presets=presets)
