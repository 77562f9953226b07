"""`egohmr train stage2`: datasets, pose statistics, the image-feature cache and the shared training engine.

    egohmr train stage2 --config cpu --set data.root=DATA --out RUN                     # ~30 min on 2 CPU cores
    egohmr train stage2 --config configs/stage2_official.yaml --set data.root=/data/egobody
    egohmr train stage2 --config cpu --out RUN --resume                                # continue RUN/last.pt

(also ``python -m egohmr.stage2.train ...`` with the same flags). The run folder holds the engine's files
(config.yaml, train.log, metrics.jsonl, last.pt, best.pt) plus ``preprocess_stats/preprocess_stats.npz`` (the x0
normaliser, also stored inside every checkpoint). The ``cached`` image-feature mode reads/writes the stage-1 feature
cache (`feature_dir`).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from egohmr.cli.stages import add_run_arguments
from egohmr.stage2.config import PRESETS, Stage2Config

__all__ = ["CachedFeatureDataset", "add_train_arguments", "feature_dir", "main", "run_train", "train_stage2"]

logger = logging.getLogger(__name__)


class CachedFeatureDataset(Dataset):
    """A dataset whose items get a precomputed ``img_feat`` (rows aligned with the dataset's items)."""

    def __init__(self, base: Dataset, features: torch.Tensor) -> None:
        if len(base) != features.shape[0]:  # type: ignore[arg-type]
            raise ValueError(f"feature cache has {features.shape[0]} rows for a dataset of {len(base)} items")  # type: ignore[arg-type]
        self.base = base
        self.features = features

    def __len__(self) -> int:
        return self.features.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = dict(self.base[i])
        item.pop("img_crop", None)
        item["img_feat"] = self.features[i]
        return item


def _dataset(cfg: Stage2Config, split: str, load_images: bool, augment: bool, loosen: bool):
    from egohmr.data.dataset import EgoBodyDataOptions, EgoBodyDataset

    return EgoBodyDataset(
        EgoBodyDataOptions(
            root=cfg.data.root,
            split=split,  # type: ignore[arg-type]
            stage=2,
            scene_dir=cfg.data.scene_dir_train,
            augment=augment,
            seed=cfg.train.seed,
            num_scene_points=cfg.data.num_scene_points_file,
            pelvis_vis_loosen=loosen,
            load_images=load_images,
        )
    )


def feature_dir(cfg: Stage2Config) -> Path:
    """Folder of the cached image features: ``data.feature_dir`` or ``<root>/features_stage2_<backbone>``.

    Files are written and checked by `egohmr.stage1.features` (frames, crop and backbone weights are verified before
    a file is reused). Stage 1 validates on a subsampled split, so the two stages keep separate default folders.
    """
    if cfg.data.feature_dir is not None:
        return Path(cfg.data.feature_dir)
    return Path(cfg.data.root) / f"features_stage2_{cfg.model.backbone}"


def _cached(cfg: Stage2Config, model: Any, split: str, loosen: bool) -> Dataset:
    from egohmr.stage1.features import compute_features, load_features

    images = _dataset(cfg, split, load_images=True, augment=False, loosen=loosen)
    folder = feature_dir(cfg)
    feats = load_features(folder, images, cfg.model.backbone, model.backbone)
    if feats is None:
        logger.info("computing image features of %d %s crops once (frozen %s)", len(images), split, cfg.model.backbone)
        feats = compute_features(images, model.backbone, cfg.model.backbone, folder)
    base = _dataset(cfg, split, load_images=False, augment=False, loosen=loosen)
    return CachedFeatureDataset(base, torch.from_numpy(feats))


def train_stage2(cfg: Stage2Config, resume: bool = False) -> Any:
    """Train stage 2 with the shared engine (`egohmr.train.train`); returns its `TrainResult`."""
    from egohmr.data.stats import load_pose_stats, pose_stats_for_split, save_pose_stats
    from egohmr.stage2.model import CHECKPOINT_KIND, EgoHMRModel
    from egohmr.train import train

    run_dir = Path(cfg.train.out_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    stats_file = run_dir / "preprocess_stats" / "preprocess_stats.npz"
    if cfg.data.stats_path is not None:
        stats = load_pose_stats(cfg.data.stats_path)
    elif stats_file.is_file():
        stats = load_pose_stats(stats_file)
    else:
        stats = pose_stats_for_split(cfg.data.root, "train")
    save_pose_stats(stats_file, stats)
    model = EgoHMRModel(cfg, stats.x_mean, stats.x_std)
    if cfg.model.image_features == "cached":
        train_set = _cached(cfg, model, "train", cfg.data.pelvis_vis_loosen_train)
        val_set = _cached(cfg, model, "val", cfg.data.pelvis_vis_loosen_test)
    else:
        train_set = _dataset(cfg, "train", True, cfg.data.augment, cfg.data.pelvis_vis_loosen_train)
        val_set = _dataset(cfg, "val", True, False, cfg.data.pelvis_vis_loosen_test)
    extras = {"norm_stats": {"x_mean": torch.from_numpy(stats.x_mean), "x_std": torch.from_numpy(stats.x_std)}}
    return train(
        model, train_set, val_set, cfg.train, kind=CHECKPOINT_KIND, full_config=cfg, extras=extras, resume=resume
    )


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``egohmr train stage2`` (the same shared flags as stage 1)."""
    add_run_arguments(parser)


def run_train(args: argparse.Namespace) -> int:
    """Resolve the config, seed, train; returns the exit code."""
    from egohmr.cli.train import overrides_from_args
    from egohmr.config import load_config
    from egohmr.train import seed_everything

    cfg = load_config(Stage2Config, args.config, overrides_from_args(args), presets=PRESETS)
    seed_everything(cfg.train.seed)  # model construction draws from the global RNG
    result = train_stage2(cfg, resume=args.resume)
    print(f"stage 2 trained to step {result.step}; best {cfg.train.best_metric} = {result.best_value} "
          f"(step {result.best_step}); run folder {result.run_dir}")  # fmt: skip
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m egohmr.stage2.train`` entry point."""
    parser = argparse.ArgumentParser(prog="egohmr train stage2", description="train the stage-2 diffusion model")
    add_train_arguments(parser)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run_train(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
