"""`train(cfg)`: build the stage-1 model and datasets, then run the shared engine (`egohmr.train.train`).

Steps: body models for the losses -> `ProHMRScene` (ProHMR backbone initialisation when configured; all weights from
`train.init_checkpoint` when set, `egohmr.train.init`) -> datasets
(cached image features computed once when `model.cached_features`, with `data.feature_views` views per training
frame) -> `egohmr.train.train` with kind
"egohmr.stage1". The run folder is `cfg.train.out_dir` (config.yaml, train.log, metrics.jsonl, last.pt, best.pt).
"""

from __future__ import annotations

import logging

import numpy as np
from torch import nn
from torch.utils.data import Dataset

from egohmr.data.dataset import EgoBodyDataOptions, EgoBodyDataset
from egohmr.data.feature_cache import CachedFeatureDataset, load_or_compute_features
from egohmr.stage1.checkpoint import load as load_stage1_checkpoint
from egohmr.stage1.checkpoint import load_prohmr_backbone
from egohmr.stage1.config import CHECKPOINT_KIND, Stage1Config
from egohmr.stage1.data import Stage1Items, make_egobody_dataset
from egohmr.stage1.model import ProHMRScene
from egohmr.train import TrainResult
from egohmr.train import train as run_engine
from egohmr.train.init import init_from_checkpoint

__all__ = ["build_training_model", "build_training_sets", "load_body_models", "train"]

logger = logging.getLogger(__name__)


def load_body_models(source: str) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(neutral, male, female) body models from an SMPL folder or the packaged open body ('open', 'open-lowres').

    Raises:
        FileNotFoundError: the files are missing (config key model.body_model).
    """
    from egohmr.body import load_body_model

    try:
        return tuple(load_body_model(source, g) for g in ("neutral", "male", "female"))  # type: ignore[return-value]
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{err} (config key model.body_model={source!r})") from None


def build_training_model(cfg: Stage1Config) -> ProHMRScene:
    """`ProHMRScene` with body models attached and, if configured, the ProHMR backbone weights."""
    model = ProHMRScene(cfg.model, cfg.loss)
    if cfg.model.prohmr_checkpoint:
        load_prohmr_backbone(cfg.model.prohmr_checkpoint, model.backbone)
    model.attach_body_models(*load_body_models(cfg.model.body_model))
    return model


def _features(cfg: Stage1Config, model: ProHMRScene, split: str, spacing: int, num_views: int) -> np.ndarray:
    """Cached features of a split, (N, D_img) or (N, K, D_img) for `num_views` K > 1 (computed and stored on first
    use; views drawn with the training seed)."""
    images = EgoBodyDataset(
        EgoBodyDataOptions(
            root=cfg.data.root,
            split=split,  # type: ignore[arg-type]
            stage=1,
            scene_dir=None,
            crop_size_px=cfg.model.image_size_px,
            bbox_enlarge=cfg.data.bbox_enlarge,
            augment=False,
            seed=cfg.train.seed,
            load_images=True,
            spacing=spacing,
        )
    )
    folder = cfg.data.resolved_feature_dir(cfg.model.backbone)
    return load_or_compute_features(
        images, model.backbone, cfg.model.backbone, folder, cfg.train.num_workers, num_views=num_views
    )


def build_training_sets(cfg: Stage1Config, model: ProHMRScene) -> tuple[Dataset, Dataset]:
    """Training and validation items for `cfg` (validation every `data.val_spacing`-th frame). With cached features
    the training items use `data.feature_views` views per frame, the validation items the un-augmented one.

    Raises:
        FileNotFoundError: missing annotation or scene files, naming the file and the command that writes it.
    """
    cached = cfg.model.cached_features
    sets: list[Dataset] = []
    for split, training, spacing in (
        (cfg.data.train_split, True, 1),
        (cfg.data.val_split, False, cfg.data.val_spacing),
    ):
        base = make_egobody_dataset(cfg, split, training=training, load_images=not cached, spacing=spacing)
        items = Stage1Items(base, cfg.model.num_scene_points, seed=cfg.train.seed, vary_with_epoch=training)
        if cached:
            views = cfg.data.feature_views if training else 1
            features = _features(cfg, model, split, spacing, views)
            sets.append(CachedFeatureDataset(items, features, seed=cfg.train.seed))
        else:
            sets.append(items)
    return sets[0], sets[1]


def train(cfg: Stage1Config, resume: bool = False) -> TrainResult:
    """Train stage 1 (see the module docstring); the config was validated when built.

    Raises:
        FileNotFoundError: missing data, scene files, body model or checkpoint. CheckpointError: a
            `train.init_checkpoint` that is not a stage-1 file or does not fit the model. ValueError: an existing run
            folder without `resume`. NonFiniteLossError: NaN/inf loss (step and batch named).
    """
    model = build_training_model(cfg)
    init_from_checkpoint(model, cfg.train, load_stage1_checkpoint, resume)
    train_set, val_set = build_training_sets(cfg, model)
    logger.info("stage 1: %d training and %d validation frames", len(train_set), len(val_set))  # type: ignore[arg-type]
    return run_engine(model, train_set, val_set, cfg.train, kind=CHECKPOINT_KIND, full_config=cfg, resume=resume)
