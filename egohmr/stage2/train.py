"""`train(cfg)`: stage-2 datasets, pose statistics, the image-feature cache and the shared training engine.

The run folder holds the engine's files (config.yaml, train.log, metrics.jsonl, last.pt, best.pt) plus
``preprocess_stats/preprocess_stats.npz`` (the x0 normaliser, also stored inside every checkpoint). With
``train.init_checkpoint`` the weights and the x0 normaliser come from that file (`egohmr.train.init`): its weights
were trained in that normalised space. The ``cached``
image-feature mode reads/writes the feature cache of `egohmr.data.feature_cache` (`feature_dir`), with
``data.feature_views`` views per training frame (augmented views; validation uses the un-augmented one).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch.utils.data import Dataset

from egohmr.data.dataset import EgoBodyDataOptions, EgoBodyDataset
from egohmr.data.feature_cache import CachedFeatureDataset, load_or_compute_features
from egohmr.data.stats import PoseStats, load_pose_stats, pose_stats_for_split, save_pose_stats
from egohmr.stage2.checkpoint import load as load_stage2_checkpoint
from egohmr.stage2.config import Stage2Config
from egohmr.stage2.model import CHECKPOINT_KIND, EgoHMRModel
from egohmr.train import TrainResult
from egohmr.train import train as run_engine
from egohmr.train.init import init_from_checkpoint

__all__ = ["feature_dir", "train"]

logger = logging.getLogger(__name__)


def _dataset(cfg: Stage2Config, split: str, load_images: bool, augment: bool, loosen: bool) -> EgoBodyDataset:
    return EgoBodyDataset(
        EgoBodyDataOptions(
            root=cfg.data.root,
            split=split,  # type: ignore[arg-type]
            stage=2,
            scene_dir=cfg.data.resolved_scene_dir_train(),
            augment=augment,
            seed=cfg.train.seed,
            num_scene_points=cfg.data.num_scene_points_file,
            pelvis_vis_loosen=loosen,
            load_images=load_images,
        )
    )


def feature_dir(cfg: Stage2Config) -> Path:
    """Folder of the cached image features: ``data.feature_dir`` or ``<root>/features_stage2_<backbone>``.

    Files are written and checked by `egohmr.data.feature_cache` (frames, crop and backbone weights are verified
    before a file is reused). Stage 1 validates on a subsampled split, so the two stages keep separate default
    folders.
    """
    if cfg.data.feature_dir is not None:
        return Path(cfg.data.feature_dir)
    return Path(cfg.data.root) / f"features_stage2_{cfg.model.backbone}"


def _cached(cfg: Stage2Config, model: EgoHMRModel, split: str, loosen: bool, num_views: int) -> Dataset:
    """Items of a split with cached image features of `num_views` views per frame (see `CachedFeatureDataset`)."""
    images = _dataset(cfg, split, load_images=True, augment=False, loosen=loosen)
    feats = load_or_compute_features(images, model.backbone, cfg.model.backbone, feature_dir(cfg), num_views=num_views)
    items = _dataset(cfg, split, load_images=False, augment=False, loosen=loosen)
    return CachedFeatureDataset(items, feats, seed=cfg.train.seed)


def _stats_file(run_dir: Path) -> Path:
    return run_dir / "preprocess_stats" / "preprocess_stats.npz"


def _pose_stats(cfg: Stage2Config, run_dir: Path) -> PoseStats:
    """x0 statistics: ``data.stats_path``, else the run folder's (resume), else computed from the train split;
    written to ``<run>/preprocess_stats/preprocess_stats.npz``."""
    stats_file = _stats_file(run_dir)
    if cfg.data.stats_path is not None:
        stats = load_pose_stats(cfg.data.stats_path)
    elif stats_file.is_file():
        stats = load_pose_stats(stats_file)
    else:
        stats = pose_stats_for_split(cfg.data.root, "train")
    save_pose_stats(stats_file, stats)
    return stats


def train(cfg: Stage2Config, resume: bool = False) -> TrainResult:
    """Train stage 2 with the shared engine (`egohmr.train.train`); the config was validated when built."""
    run_dir = Path(cfg.train.out_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    stats = _pose_stats(cfg, run_dir)
    model = EgoHMRModel(cfg, stats.x_mean, stats.x_std)
    if init_from_checkpoint(model, cfg.train, load_stage2_checkpoint, resume):
        stats = PoseStats(model.x_mean.numpy().copy(), model.x_std.numpy().copy())
        save_pose_stats(_stats_file(run_dir), stats)
    if cfg.model.image_features == "cached":
        train_set = _cached(cfg, model, "train", cfg.data.pelvis_vis_loosen_train, cfg.data.feature_views)
        val_set = _cached(cfg, model, "val", cfg.data.pelvis_vis_loosen_test, 1)
    else:
        train_set = _dataset(cfg, "train", True, cfg.data.augment, cfg.data.pelvis_vis_loosen_train)
        val_set = _dataset(cfg, "val", True, False, cfg.data.pelvis_vis_loosen_test)
    extras = {"norm_stats": {"x_mean": torch.from_numpy(stats.x_mean), "x_std": torch.from_numpy(stats.x_std)}}
    return run_engine(
        model, train_set, val_set, cfg.train, kind=CHECKPOINT_KIND, full_config=cfg, extras=extras, resume=resume
    )
