"""`Stage2Config`: every setting of the stage-2 model ("EgoHMR" pose diffusion), its training and its testing.

Defaults are the official values (`reference-egohmr.md` sections 3 and 6: ``train_egohmr.py`` / ``test_egohmr.py``
argparse defaults and the ``EgoHMR`` constructor). Two presets:

* ``official``: ResNet-50, PointNet 512/256 on 20,000 points, GCN 3718 -> 1024 × 4 blocks, T = 50 cosine, AdamW 1e-4,
  batch 16, validation every 1000 steps with ddim5 on every 20th validation frame, best by visible-joint MPJPE.
* ``cpu``: the same method at a size that trains on two CPU cores in about half an hour: frozen ImageNet
  EfficientNet-Lite0 features computed once per crop (no augmentation), a smaller PointNet on fewer points, a narrower
  GCN, the low-resolution open body for the losses, v-prediction, a weight average (EMA 0.998) and noise on the
  conditioning translation in training.

YAML files in ``egohmr/configs/`` (``--config stage2_cpu``) hold overrides only (``preset: cpu`` picks the starting
preset).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from egohmr.config.core import load_config
from egohmr.config.layout import SCENE_S2_TEST_DIR, SCENE_S2_TRAIN_DIR
from egohmr.diffusion.guidance import GuidanceConfig
from egohmr.diffusion.schedule import NoiseScheduleConfig
from egohmr.models.heads import DEFAULT_MEAN_BETAS
from egohmr.train.config import OFFICIAL_STAGE2_TRAIN, TrainConfig

__all__ = [
    "PRESETS",
    "Stage2Config",
    "Stage2DataConfig",
    "Stage2LossWeights",
    "Stage2ModelConfig",
    "Stage2TestConfig",
    "Stage2TrainOptions",
    "fast_sampling",
    "load_stage2_config",
    "stage2_preset",
]


@dataclass(frozen=True)
class Stage2ModelConfig:
    """Network architecture (official: ``EgoHMR.__init__`` defaults)."""

    backbone: Literal["resnet50", "efficientnet_lite0"] = "resnet50"
    """Image backbone (official ResNet-50, 2048-d)."""
    backbone_pretrained: bool = False
    """Load ImageNet weights (only EfficientNet-Lite0 has offline weights; ResNet-50 comes from a checkpoint)."""
    freeze_backbone: bool = False
    """Keep the backbone fixed (eval mode, no gradient). Official: trained."""
    image_features: Literal["backbone", "cached"] = "backbone"
    """``backbone``: run the backbone on each crop; ``cached``: training reads features computed once per crop by the
    frozen backbone (needs ``freeze_backbone`` and no augmentation)."""
    scene_feat_dim: int = 512
    """PointNet output width (official 512)."""
    scene_hidden_dim: int = 256
    """PointNet hidden width (official 256)."""
    num_scene_points: int = 20000
    """Cube points fed to the PointNet (the first ones of each cube, which are a random sample; official 20,000)."""
    transl_dim: int = 128
    """Translation embedding width (official 128)."""
    latent_dim: int = 512
    """Pose and timestep embedding width (official 512)."""
    gcn_hidden: int = 1024
    """GCN hidden width (official 1024)."""
    gcn_blocks: int = 4
    """GCN residual blocks (official 4)."""
    init_betas: tuple[float, ...] = DEFAULT_MEAN_BETAS
    """Mean betas added by the beta head (official: ``smpl_mean_params.npz``; checkpoints store their own)."""
    body_source: str = "open"
    """Body model of the losses, validation and guidance: ``open``, ``open-lowres`` or an SMPL folder (neutral for
    predictions, male/female for the ground truth)."""


@dataclass(frozen=True)
class Stage2LossWeights:
    """Weights of the training losses (official ``train_egohmr.py`` defaults); each matches `losses.loss_<name>`."""

    v2v: float = 0.5
    """Pelvis-aligned L1 vertex error (official ``weight_loss_v2v``)."""
    keypoints_3d: float = 0.05
    """Pelvis-aligned L1 joint error, summed over joints (official ``weight_loss_keypoints_3d``)."""
    keypoints_3d_full: float = 0.02
    """L1 joint error in the camera frame with the GT translation (official ``weight_loss_keypoints_3d_full``)."""
    keypoints_2d_full: float = 0.01
    """Confidence-weighted L1 of the OpenPose reprojection in the full image (official)."""
    betas: float = 0.0005
    """MSE of the shape (official)."""
    body_pose: float = 0.001
    """MSE of the body rotation matrices (official)."""
    global_orient: float = 0.001
    """MSE of the global rotation matrix (official)."""
    pose_6d_ortho: float = 0.1
    """Orthonormality of the predicted 6D (official)."""
    penetration: float = 0.004
    """Scene penetration of the predicted body (our metric-depth score; official COAP loss weight 0.0002 on a unitless
    occupancy sum, which is about 20x larger than our depth sum in metres for the same penetration)."""


@dataclass(frozen=True)
class Stage2TrainOptions:
    """Training behaviour of the diffusion model (official ``train_egohmr.py``)."""

    cond_mask_prob: float = 0.01
    """Probability that a training sample gets its image feature zeroed for all joints (official 0.01)."""
    penetration_start_step: int = 17000
    """First step with the penetration loss. Official ``start_coap_epoch`` 3: about three epochs of the EgoBody
    egocentric train split at batch 16."""
    image_feature_dropout: float = 0.0
    """Dropout on the image feature in training. Official 0 (its backbone is trained on augmented crops); frozen,
    cached, un-augmented features identify each training frame, and dropout keeps the denoiser from memorising them."""
    condition_transl_noise_std_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Per-axis std (metres, PV x/y/z) of Gaussian noise added in training to the translation the denoiser is
    conditioned on (translation embedding and human-centric scene); the losses keep the GT translation. Official
    (0, 0, 0): trained on the GT translation, tested on the stage-1 one, whose errors it never saw."""
    val_sampler: Literal["ddpm", "ddim"] = "ddim"
    """Sampler of the validation (official ``ddim5``: DDIM)."""
    val_spacing: str = "ddim5"
    """Respacing of the validation sampler (official ``timestep_respacing_eval ddim5``)."""


@dataclass(frozen=True)
class Stage2DataConfig:
    """Where the data are and how they are read."""

    root: str = "data/egobody"
    """EgoBody root (official tree)."""
    scene_dir_train: str | None = None
    """Stage-2 cubes around the GT body (train/val; ``egohmr preprocess scene-s2-train``); None:
    ``<root>/Egohmr_scene_preprocess_cube_s2_from_gt_release`` (the official name)."""
    scene_dir_test: str | None = None
    """Stage-2 cubes around the stage-1 translation (test; ``egohmr preprocess scene-s2-test``); None:
    ``<root>/Egohmr_scene_preprocess_cube_s2_from_pred_release`` (the official name)."""
    stage1_results: str = "outputs/stage1/results.pkl"
    """Stage-1 ``results.pkl`` of the test split (translation used at test time)."""
    feature_dir: str | None = None
    """Cached image features (``model.image_features: cached``); None: ``<root>/features_stage2_<backbone>``."""
    stats_path: str | None = None
    """``preprocess_stats.npz`` to use; None computes it from the train split at the start of training."""
    augment: bool = True
    """Training augmentation (official: on for the train split). With cached image features it needs
    ``feature_views`` > 1 and applies through those views."""
    feature_views: int = 1
    """K, views per training frame in the image-feature cache (``model.image_features: cached``): view 0 is the
    un-augmented crop, views 1..K-1 fixed augmented crops (needs ``augment``); each epoch trains on one view per frame
    with that view's geometry. 1: un-augmented features only (no augmentation)."""
    pelvis_vis_loosen_train: bool = False
    """Loosened visibility map in training (official train default False)."""
    pelvis_vis_loosen_test: bool = True
    """Loosened visibility map at validation/test (official test default True)."""
    num_scene_points_file: int = 20000
    """Points stored per cube file (official 20,000)."""

    def resolved_scene_dir_train(self) -> str:
        """The train/val cube folder (default ``<root>/Egohmr_scene_preprocess_cube_s2_from_gt_release``)."""
        return self.scene_dir_train if self.scene_dir_train is not None else str(Path(self.root) / SCENE_S2_TRAIN_DIR)

    def resolved_scene_dir_test(self) -> str:
        """The test cube folder (default ``<root>/Egohmr_scene_preprocess_cube_s2_from_pred_release``)."""
        return self.scene_dir_test if self.scene_dir_test is not None else str(Path(self.root) / SCENE_S2_TEST_DIR)


@dataclass(frozen=True)
class Stage2TestConfig:
    """Sampling at test time (official ``test_egohmr.py``): the one home of the sampling settings of
    ``egohmr test stage2`` (its flags default to a checkpoint's values) and `egohmr.stage2.evaluation.evaluate`."""

    sampler: Literal["ddpm", "ddim"] = "ddpm"
    """Sampler (official test: DDPM)."""
    spacing: str = ""
    """Respacing: ``""`` all T steps, ``ddim5``, or ``"K"`` for K evenly spread steps."""
    eta: float = 0.0
    """DDIM η (Song et al. 2021): 0 deterministic (official), 1 the DDPM posterior variance; ignored by ``ddpm``."""
    num_samples: int = 1
    """Samples per image (official default 1; the released results use 5)."""
    diffuse_fuse: bool = True
    """Visible joints from the image+scene branch, invisible joints from the scene-only branch (official True)."""
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    """Collision guidance."""
    visible_noise_scale: float = 1.0
    """Scale of the sampling noise (x_T and each step's ε) on the entries of visible joints; invisible joints keep 1.
    Official: 1 (one temperature). Below 1 the visible joints, which the image determines, spread less and are more
    accurate, while the invisible joints keep their full diversity (docs/stage2.md)."""
    return_mode: Literal["official", "final"] = "official"
    """``official``: SMPL from the last x̂0 prediction (t = 0 call); ``final``: the final sample."""
    mode: Literal["fast", "reference"] = "fast"
    """``fast``: features once per image, all samples batched; ``reference``: the official computation."""
    batch_size: int = 5
    """Images per batch (official 5); replaced by the memory-capped batch when ``max_memory_gb`` is set."""
    max_memory_gb: float | None = None
    """Memory cap (GiB) that picks the images per batch instead of ``batch_size``: the most images whose measured
    weights + sampling memory fit (`egohmr.stage2.batching`); None: ``batch_size``."""
    seed: int = 0
    """Sampling seed (official ``--seed 0``; the results file is ``results_seed_<seed>.pkl``)."""

    def __post_init__(self) -> None:
        if self.num_samples < 1:
            raise ValueError(f"test.num_samples must be >= 1, got {self.num_samples}")
        if self.batch_size < 1:
            raise ValueError(f"test.batch_size must be >= 1, got {self.batch_size}")
        if self.max_memory_gb is not None and not self.max_memory_gb > 0:
            raise ValueError(f"test.max_memory_gb must be > 0 (GiB) or null, got {self.max_memory_gb}")
        if self.sampler not in ("ddpm", "ddim"):
            raise ValueError(f"test.sampler must be 'ddpm' or 'ddim', got {self.sampler!r}")
        if self.eta < 0:
            raise ValueError(f"test.eta must be >= 0, got {self.eta}")
        if not 0.0 <= self.visible_noise_scale <= 1.0:
            raise ValueError(f"test.visible_noise_scale must be in [0, 1], got {self.visible_noise_scale}")


@dataclass(frozen=True)
class Stage2Config:
    """Everything about stage 2."""

    model: Stage2ModelConfig = field(default_factory=Stage2ModelConfig)
    schedule: NoiseScheduleConfig = field(default_factory=NoiseScheduleConfig)
    loss: Stage2LossWeights = field(default_factory=Stage2LossWeights)
    train_options: Stage2TrainOptions = field(default_factory=Stage2TrainOptions)
    data: Stage2DataConfig = field(default_factory=Stage2DataConfig)
    test: Stage2TestConfig = field(default_factory=Stage2TestConfig)
    train: TrainConfig = field(default_factory=lambda: OFFICIAL_STAGE2_TRAIN)

    def __post_init__(self) -> None:
        m = self.model
        if m.image_features == "cached" and not m.freeze_backbone:
            raise ValueError("model.image_features='cached' needs model.freeze_backbone=true (features never change)")
        views = self.data.feature_views
        if views < 1:
            raise ValueError(f"data.feature_views must be >= 1, got {views}")
        if views > 1 and not (m.image_features == "cached" and self.data.augment):
            raise ValueError(
                f"data.feature_views={views} (augmented views of cached image features) needs "
                "model.image_features='cached' and data.augment=true"
            )
        if m.image_features == "cached" and self.data.augment and views == 1:
            raise ValueError(
                "model.image_features='cached' with data.augment=true needs data.feature_views > 1 (augmented views "
                "of the cached crops), or set data.augment=false"
            )
        if not 0.0 <= self.train_options.cond_mask_prob <= 1.0:
            raise ValueError(f"train_options.cond_mask_prob must be in [0, 1], got {self.train_options.cond_mask_prob}")
        if not 0.0 <= self.train_options.image_feature_dropout < 1.0:
            raise ValueError(
                f"train_options.image_feature_dropout must be in [0, 1), got {self.train_options.image_feature_dropout}"
            )
        noise_std = self.train_options.condition_transl_noise_std_m
        if len(noise_std) != 3 or not all(math.isfinite(v) and v >= 0.0 for v in noise_std):
            raise ValueError(
                f"train_options.condition_transl_noise_std_m must be three finite stds >= 0 (metres), got {noise_std}"
            )
        if m.num_scene_points < 1 or m.num_scene_points > self.data.num_scene_points_file:
            raise ValueError(
                f"model.num_scene_points must be in 1..data.num_scene_points_file ({self.data.num_scene_points_file}),"
                f" got {m.num_scene_points}"
            )


OFFICIAL = Stage2Config()

CPU = dataclasses.replace(
    OFFICIAL,
    model=Stage2ModelConfig(
        backbone="efficientnet_lite0",
        backbone_pretrained=True,
        freeze_backbone=True,
        image_features="cached",
        scene_feat_dim=256,
        scene_hidden_dim=128,
        num_scene_points=1024,
        latent_dim=128,
        gcn_hidden=256,
        gcn_blocks=2,
        body_source="open-lowres",
    ),
    # v-prediction (official: x0): on 2,100 frames an x0-predicting denoiser ignores x_t (docs/stage2.md)
    schedule=NoiseScheduleConfig(prediction="v"),
    # 15 % image-masked samples (official 1 %): in 2,500 steps of 16 the scene-only branch, which gives the
    # invisible joints under diffuse_fuse, would otherwise see only ~400 samples.
    # Translation noise (official none): tested on the stage-1 translation, ~0.2 / 0.05 / 0.3 m off per PV axis
    # on test; 1.5x that scale was chosen on val (docs/stage2.md, "Why translation noise").
    train_options=Stage2TrainOptions(
        penetration_start_step=600, cond_mask_prob=0.15, condition_transl_noise_std_m=(0.3, 0.075, 0.45)
    ),
    data=Stage2DataConfig(augment=False),
    train=dataclasses.replace(
        OFFICIAL_STAGE2_TRAIN,
        max_steps=2500,
        lr=3e-4,
        lr_schedule="cosine",
        min_lr=3e-5,
        warmup_steps=100,
        ema_decay=0.998,
        num_workers=0,
        val_every_steps=250,
        val_subsample=1,
        ckpt_every_steps=250,
        log_every_steps=50,
        device="cpu",
        progress_bar=False,
        tensorboard=False,
    ),
)

PRESETS: dict[str, Stage2Config] = {"official": OFFICIAL, "cpu": CPU}
"""Named presets: ``official`` (paper setting) and ``cpu`` (two CPU cores, ~30 minutes)."""


FAST_SPACING = "5,2,1,1,1"
"""Kept timesteps of the fast setting: 5 steps in t < 10, where collision guidance acts, 2 in 10..19 and 1 in each
higher tenth of T = 50 (`egohmr.diffusion.schedule.space_timesteps`): ten denoiser calls instead of 50."""

FAST_GUIDANCE_GAIN = 4.0 / 3.0
"""Factor on the checkpoint's guidance weight in the fast setting (30 -> 40): its five guided steps move the sample
as far as DDPM-50's ten only with a larger weight."""


def fast_sampling(test: Stage2TestConfig) -> Stage2TestConfig:
    """The fast setting (docs/stage2.md, "Few steps") on top of a checkpoint's test settings.

    Stochastic DDIM (η = 1) over `FAST_SPACING` with diffuse_fuse and collision guidance at `FAST_GUIDANCE_GAIN`
    times the checkpoint's weight; every other field (samples, seed, noise scale, batch) stays ``test``'s.
    """
    guidance = dataclasses.replace(test.guidance, enabled=True, weight=test.guidance.weight * FAST_GUIDANCE_GAIN)
    return dataclasses.replace(
        test, sampler="ddim", spacing=FAST_SPACING, eta=1.0, diffuse_fuse=True, guidance=guidance
    )


def stage2_preset(name: str) -> Stage2Config:
    """The preset ``name`` (``official`` or ``cpu``).

    Raises:
        ValueError: unknown name.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown stage-2 preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name]


def load_stage2_config(source: str | Path | None = None, overrides: Sequence[str] = ()) -> Stage2Config:
    """Resolve a stage-2 config from a preset name or YAML file plus `key.path=value` overrides (validated when built).

    Args:
        source: "official", "cpu", a YAML override file (may start from a preset with `preset: NAME`) or None
            (official defaults).
        overrides: e.g. `["train.max_steps=10", "data.root=/data/egobody"]`.

    Raises:
        ConfigError / ValueError: unknown key, wrong type or a value out of range. FileNotFoundError: missing YAML file.
    """
    return load_config(Stage2Config, source, overrides, presets=PRESETS)
