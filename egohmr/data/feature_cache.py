"""Image features of a frozen backbone, computed once per crop and stored, and a dataset that serves them.

With a frozen backbone (stage 1 `model.cached_features`, stage 2 `model.image_features: cached`), the backbone output
of each frame's crop is computed once and stored; training then reads `img_feat` (B, D_img) instead of running the
backbone on `img_crop`. Trade-off (docs/stage1.md): on a CPU the backbone dominates the cost of a step, and caching
removes it, but a crop cannot be augmented afresh every epoch. Augmented views (`data.feature_views` = K > 1) give
some augmentation back: K fixed views per frame (`EgoBodyDataset.view_item`; view 0 un-augmented, views 1..K-1
augmented) are computed once, and each training epoch serves one of them per frame with the geometry of that view.

Files in the feature folder, per split: `<split>.npy` (N, D_img) float32 in annotation-row order (one view) or
`<split>_views.npy` (N, K, D_img) (K > 1 views), and `<split>.json` / `<split>_views.json` (backbone name, crop size,
box enlargement, frame count, a hash of the image names, a hash of the backbone weights, the
`egohmr.jobs.listing_digest` of the image files: names, sizes and modification times; with views also
`feature_views`, `augment_config` and `augment_seed`), checked on load so a stale cache is refused with a message
naming what changed (or recomputed with ``overwrite``). Reading and computing hold the folder's
`egohmr.jobs.folder_lock`, and temporary files of a killed write are removed first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from egohmr.data.augment import draw_view
from egohmr.data.dataset import EgoBodyDataset
from egohmr.files import atomic_save_npy, atomic_write_text
from egohmr.jobs import clean_stale_temporaries, folder_lock, listing_digest

__all__ = [
    "CachedFeatureDataset",
    "compute_features",
    "feature_paths",
    "load_features",
    "load_or_compute_features",
    "weights_hash",
]

logger = logging.getLogger(__name__)


def feature_paths(feature_dir: str | Path, split: str, num_views: int = 1) -> tuple[Path, Path]:
    """(`<dir>/<split>.npy`, `<dir>/<split>.json`), or the `<split>_views` pair for `num_views` > 1."""
    folder = Path(feature_dir)
    stem = split if num_views == 1 else f"{split}_views"
    return folder / f"{stem}.npy", folder / f"{stem}.json"


def _names_hash(names: list[str]) -> str:
    return hashlib.sha1("\n".join(names).encode()).hexdigest()[:16]


def weights_hash(module: nn.Module) -> str:
    """Short hash of a module's state dict (identifies the backbone weights the features came from)."""
    h = hashlib.sha1()
    for key, value in module.state_dict().items():
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _meta(dataset: EgoBodyDataset, backbone_name: str, backbone: nn.Module, num_views: int) -> dict:
    opt = dataset.options
    meta = {
        "backbone": backbone_name,
        "crop_size_px": opt.crop_size_px,
        "bbox_enlarge": opt.bbox_enlarge,
        "num_frames": len(dataset),
        "imgnames_sha1": _names_hash(dataset.imgnames),
        "weights_sha1": weights_hash(backbone),
        "images": listing_digest((dataset.image_path(i) for i in range(len(dataset))), opt.root),
    }
    if num_views > 1:
        meta["feature_views"] = num_views
        meta["augment_config"] = dataclasses.asdict(opt.augment_config)
        meta["augment_seed"] = opt.seed
    return meta


def _check_num_views(num_views: int) -> None:
    if num_views < 1:
        raise ValueError(f"num_views (data.feature_views) must be >= 1, got {num_views}")


class _ViewCrops(Dataset):
    """`img_crop` of every (frame, view) pair of an `EgoBodyDataset`, frame-major: item j is frame j // K under
    view j % K."""

    def __init__(self, dataset: EgoBodyDataset, num_views: int) -> None:
        self.dataset = dataset
        self.num_views = num_views

    def __len__(self) -> int:
        return len(self.dataset) * self.num_views

    def __getitem__(self, j: int) -> torch.Tensor:
        return self.dataset.view_item(j // self.num_views, j % self.num_views)["img_crop"]


def compute_features(
    dataset: EgoBodyDataset,
    backbone: nn.Module,
    backbone_name: str,
    feature_dir: str | Path,
    batch_size: int = 32,
    num_workers: int = 0,
    num_views: int = 1,
) -> np.ndarray:
    """Run `backbone` (eval mode, no gradients) on the crop of every frame of `dataset` under views 0..K-1
    (`EgoBodyDataset.view_item`; view 0 is the un-augmented crop) and store the features.

    Args:
        dataset: an `EgoBodyDataset` with `load_images=True` and `augment=False` (its `augment_config` and `seed`
            define the augmented views).
        backbone: (B, 3, S, S) -> (B, D_img) module.
        backbone_name: its name (stored in the metadata).
        feature_dir: output folder.
        batch_size: crops per forward pass.
        num_workers: DataLoader workers reading the images.
        num_views: K, views per frame (1: the un-augmented crop only, as without views).

    Returns:
        (N, D_img) float32 features in dataset order for K = 1, (N, K, D_img) for K > 1 (also written to
        `feature_paths(feature_dir, split, K)`, atomically).

    Raises:
        ValueError: the dataset augments or does not load images; K < 1.
    """
    opt = dataset.options
    if opt.augment or not opt.load_images:
        raise ValueError("compute_features needs a dataset with load_images=True and augment=False")
    _check_num_views(num_views)
    npy_path, json_path = feature_paths(feature_dir, opt.split, num_views)
    device = next(backbone.parameters()).device
    was_training = backbone.training
    backbone.eval()
    crops = _ViewCrops(dataset, num_views)
    loader = DataLoader(crops, batch_size=batch_size, num_workers=num_workers, shuffle=False)
    chunks: list[np.ndarray] = []
    done = 0
    with torch.no_grad():
        for batch in loader:
            chunks.append(backbone(batch.to(device)).float().cpu().numpy())
            done += chunks[-1].shape[0]
            if len(chunks) % 20 == 0:
                logger.info("image features %s: %d / %d crops (%d views)", opt.split, done, len(crops), num_views)
    backbone.train(was_training)
    feats = np.concatenate(chunks).astype(np.float32)
    if num_views > 1:
        feats = feats.reshape(len(dataset), num_views, -1)
    npy_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save_npy(npy_path, feats)
    meta = _meta(dataset, backbone_name, backbone, num_views)
    atomic_write_text(json_path, json.dumps(meta, indent=2, sort_keys=True))
    logger.info("wrote %s (%s)", npy_path, " x ".join(map(str, feats.shape)))
    return feats


def load_features(
    feature_dir: str | Path, dataset: EgoBodyDataset, backbone_name: str, backbone: nn.Module, num_views: int = 1
) -> np.ndarray | None:
    """Read cached features for `dataset` ((N, D_img), or (N, K, D_img) for K = `num_views` > 1), or None when the
    cache is absent.

    Raises:
        ValueError: the cache exists but was made for other frames, another crop, other backbone weights or other
            views (`feature_views`, `augment_config`, `augment_seed`); the message names the field and says to delete
            the folder to recompute it.
    """
    _check_num_views(num_views)
    npy_path, json_path = feature_paths(feature_dir, dataset.options.split, num_views)
    if not npy_path.is_file() or not json_path.is_file():
        return None
    meta = json.loads(json_path.read_text())
    want = _meta(dataset, backbone_name, backbone, num_views)
    diff = {k: (meta.get(k), want.get(k)) for k in sorted(set(want) | set(meta)) if meta.get(k) != want.get(k)}
    if diff:
        details = ", ".join(f"{k}: {a!r} != {b!r}" for k, (a, b) in diff.items())
        raise ValueError(
            f"cached image features {npy_path} do not match this run ({details}); delete {npy_path.parent} (or set "
            "data.feature_dir elsewhere, or pass overwrite=True) to recompute them"
        )
    feats = np.load(npy_path)
    rows = (len(dataset),) if num_views == 1 else (len(dataset), num_views)
    if feats.ndim != len(rows) + 1 or feats.shape[: len(rows)] != rows:
        expected = ", ".join(map(str, rows))
        raise ValueError(
            f"{npy_path}: features of shape {feats.shape}, expected ({expected}, D); delete it to recompute"
        )
    return feats.astype(np.float32, copy=False)


def load_or_compute_features(
    dataset: EgoBodyDataset,
    backbone: nn.Module,
    backbone_name: str,
    feature_dir: str | Path,
    num_workers: int = 0,
    overwrite: bool = False,
    num_views: int = 1,
) -> np.ndarray:
    """Features of `dataset` ((N, D_img) float32, or (N, K, D_img) for K = `num_views` > 1): read from
    `feature_dir`, or computed and stored on first use (or always with `overwrite`), holding the folder's lock
    (processes of one job wait for each other; the first computes).

    Raises:
        ValueError: a stale cache (see `load_features`) without `overwrite`, or a dataset that augments or has no
            images.
    """
    with folder_lock(feature_dir, wait=True):
        clean_stale_temporaries(feature_dir)
        feats = None if overwrite else load_features(feature_dir, dataset, backbone_name, backbone, num_views)
        if feats is not None:
            return feats
        logger.info(
            "computing %s image features of %d %s frames x %d views into %s",
            backbone_name,
            len(dataset),
            dataset.options.split,
            num_views,
            feature_dir,
        )
        return compute_features(
            dataset, backbone, backbone_name, feature_dir, num_workers=num_workers, num_views=num_views
        )


class CachedFeatureDataset(Dataset):
    """Items of `base` with `img_crop` replaced by the precomputed `img_feat` (D_img,) float32 of the same row.

    With (N, D_img) features item `i` is `base[i]`. With (N, K, D_img) features of K views (`compute_features`), item
    `i` of an epoch uses view `k = draw_view(seed, epoch, i, K)` (uniform over 0..K-1, fixed per (seed, epoch, i)):
    the geometry comes from `base.view_item(i, k)` and `img_feat` is `features[i, k]`.

    Args:
        base: a dataset of sample dicts (rows aligned with `features`); with K > 1 views it needs `view_item(i, k)`
            (`EgoBodyDataset`, `egohmr.stage1.data.Stage1Items`), built with the `augment_config` and `seed` the
            views were computed with.
        features: (N, D_img) or (N, K, D_img) float32 array or tensor.
        seed: seed of the per-epoch view choice (the training seed).
    """

    def __init__(self, base: Dataset, features: np.ndarray | torch.Tensor, seed: int = 0) -> None:
        features = torch.as_tensor(features)
        if len(base) != features.shape[0]:  # type: ignore[arg-type]
            raise ValueError(f"feature cache has {features.shape[0]} rows for a dataset of {len(base)} items")  # type: ignore[arg-type]
        if features.ndim == 3 and not callable(getattr(base, "view_item", None)):
            raise ValueError(f"{type(base).__name__} has no view_item(i, k) to serve {features.shape[1]} feature views")
        self.base = base
        self.features = features
        self.seed = seed
        self.epoch = 0

    @property
    def num_views(self) -> int:
        """K, the views per frame (1 for (N, D_img) features)."""
        return self.features.shape[1] if self.features.ndim == 3 else 1

    def __len__(self) -> int:
        return self.features.shape[0]

    def set_epoch(self, epoch: int) -> None:
        """Epoch of the view choice, passed on to `base` (seeds its per-epoch draws, e.g. stage-1 scene-point
        subsets)."""
        self.epoch = int(epoch)
        set_epoch = getattr(self.base, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if self.features.ndim == 2:
            item, feat = dict(self.base[i]), self.features[i]
        else:
            view = draw_view(self.seed, self.epoch, i, self.num_views)
            item, feat = dict(self.base.view_item(i, view)), self.features[i, view]  # type: ignore[attr-defined]
        item.pop("img_crop", None)
        item["img_feat"] = feat
        return item
