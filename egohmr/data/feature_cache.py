"""Image features of a frozen backbone, computed once per crop and stored, and a dataset that serves them.

With a frozen backbone (stage 1 `model.cached_features`, stage 2 `model.image_features: cached`), the backbone output
of each frame's un-augmented crop is computed once and stored; training then reads `img_feat` (B, D_img) instead of
running the backbone on `img_crop`. Trade-off (docs/stage1.md): on a CPU the backbone dominates the cost of a step,
and caching removes it, but the image augmentation (scale, rotation, flip, colour) cannot be applied any more, so the
geometry (keypoints, joints, scene) must stay un-augmented too for the sample to stay consistent.

Files in the feature folder, per split: `<split>.npy` (N, D_img) float32 in annotation-row order and `<split>.json`
(backbone name, crop size, box enlargement, frame count, a hash of the image names, a hash of the backbone weights,
the `egohmr.jobs.listing_digest` of the image files: names, sizes and modification times), checked on load so a stale
cache is refused with a message naming what changed (or recomputed with ``overwrite``). Reading and computing hold the
folder's `egohmr.jobs.folder_lock`, and temporary files of a killed write are removed first.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

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


def feature_paths(feature_dir: str | Path, split: str) -> tuple[Path, Path]:
    """(`<dir>/<split>.npy`, `<dir>/<split>.json`)."""
    folder = Path(feature_dir)
    return folder / f"{split}.npy", folder / f"{split}.json"


def _names_hash(names: list[str]) -> str:
    return hashlib.sha1("\n".join(names).encode()).hexdigest()[:16]


def weights_hash(module: nn.Module) -> str:
    """Short hash of a module's state dict (identifies the backbone weights the features came from)."""
    h = hashlib.sha1()
    for key, value in module.state_dict().items():
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _meta(dataset: EgoBodyDataset, backbone_name: str, backbone: nn.Module) -> dict:
    opt = dataset.options
    return {
        "backbone": backbone_name,
        "crop_size_px": opt.crop_size_px,
        "bbox_enlarge": opt.bbox_enlarge,
        "num_frames": len(dataset),
        "imgnames_sha1": _names_hash(dataset.imgnames),
        "weights_sha1": weights_hash(backbone),
        "images": listing_digest((dataset.image_path(i) for i in range(len(dataset))), opt.root),
    }


def compute_features(
    dataset: EgoBodyDataset,
    backbone: nn.Module,
    backbone_name: str,
    feature_dir: str | Path,
    batch_size: int = 32,
    num_workers: int = 0,
) -> np.ndarray:
    """Run `backbone` (eval mode, no gradients) on every un-augmented crop of `dataset` and store the features.

    Args:
        dataset: an `EgoBodyDataset` with `load_images=True` and `augment=False`.
        backbone: (B, 3, S, S) -> (B, D_img) module.
        backbone_name: its name (stored in the metadata).
        feature_dir: output folder.
        batch_size: crops per forward pass.
        num_workers: DataLoader workers reading the images.

    Returns:
        (N, D_img) float32 features in dataset order (also written to `<feature_dir>/<split>.npy`, atomically).

    Raises:
        ValueError: the dataset augments or does not load images.
    """
    opt = dataset.options
    if opt.augment or not opt.load_images:
        raise ValueError("compute_features needs a dataset with load_images=True and augment=False")
    npy_path, json_path = feature_paths(feature_dir, opt.split)
    device = next(backbone.parameters()).device
    was_training = backbone.training
    backbone.eval()
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, shuffle=False)
    chunks: list[np.ndarray] = []
    done = 0
    with torch.no_grad():
        for batch in loader:
            chunks.append(backbone(batch["img_crop"].to(device)).float().cpu().numpy())
            done += chunks[-1].shape[0]
            if len(chunks) % 20 == 0:
                logger.info("image features %s: %d / %d frames", opt.split, done, len(dataset))
    backbone.train(was_training)
    feats = np.concatenate(chunks).astype(np.float32)
    npy_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save_npy(npy_path, feats)
    atomic_write_text(json_path, json.dumps(_meta(dataset, backbone_name, backbone), indent=2, sort_keys=True))
    logger.info("wrote %s (%d x %d)", npy_path, *feats.shape)
    return feats


def load_features(
    feature_dir: str | Path, dataset: EgoBodyDataset, backbone_name: str, backbone: nn.Module
) -> np.ndarray | None:
    """Read cached features for `dataset`, or None when the cache is absent.

    Raises:
        ValueError: the cache exists but was made for other frames, another crop or other backbone weights (the
            message says to delete the folder to recompute it).
    """
    npy_path, json_path = feature_paths(feature_dir, dataset.options.split)
    if not npy_path.is_file() or not json_path.is_file():
        return None
    meta = json.loads(json_path.read_text())
    want = _meta(dataset, backbone_name, backbone)
    diff = {k: (meta.get(k), v) for k, v in want.items() if meta.get(k) != v}
    if diff:
        details = ", ".join(f"{k}: {a!r} != {b!r}" for k, (a, b) in diff.items())
        raise ValueError(
            f"cached image features {npy_path} do not match this run ({details}); delete {npy_path.parent} (or set "
            "data.feature_dir elsewhere, or pass overwrite=True) to recompute them"
        )
    feats = np.load(npy_path)
    if feats.shape[0] != len(dataset):
        raise ValueError(f"{npy_path}: {feats.shape[0]} rows, expected {len(dataset)}; delete it to recompute")
    return feats.astype(np.float32, copy=False)


def load_or_compute_features(
    dataset: EgoBodyDataset,
    backbone: nn.Module,
    backbone_name: str,
    feature_dir: str | Path,
    num_workers: int = 0,
    overwrite: bool = False,
) -> np.ndarray:
    """(N, D_img) float32 features of `dataset`: read from `feature_dir`, or computed and stored on first use (or
    always with `overwrite`), holding the folder's lock (processes of one job wait for each other; the first computes).

    Raises:
        ValueError: a stale cache (see `load_features`) without `overwrite`, or a dataset that augments or has no
            images.
    """
    with folder_lock(feature_dir, wait=True):
        clean_stale_temporaries(feature_dir)
        feats = None if overwrite else load_features(feature_dir, dataset, backbone_name, backbone)
        if feats is not None:
            return feats
        logger.info(
            "computing %s image features of %d %s frames into %s",
            backbone_name,
            len(dataset),
            dataset.options.split,
            feature_dir,
        )
        return compute_features(dataset, backbone, backbone_name, feature_dir, num_workers=num_workers)


class CachedFeatureDataset(Dataset):
    """Items of `base` with `img_crop` replaced by the precomputed `img_feat` (D_img,) float32 of the same row.

    Args:
        base: a dataset of sample dicts (rows aligned with `features`).
        features: (N, D_img) float32 array or tensor.
    """

    def __init__(self, base: Dataset, features: np.ndarray | torch.Tensor) -> None:
        features = torch.as_tensor(features)
        if len(base) != features.shape[0]:  # type: ignore[arg-type]
            raise ValueError(f"feature cache has {features.shape[0]} rows for a dataset of {len(base)} items")  # type: ignore[arg-type]
        self.base = base
        self.features = features

    def __len__(self) -> int:
        return self.features.shape[0]

    def set_epoch(self, epoch: int) -> None:
        """Pass the epoch on to `base` (seeds its per-epoch draws, e.g. stage-1 scene-point subsets)."""
        set_epoch = getattr(self.base, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = dict(self.base[i])
        item.pop("img_crop", None)
        item["img_feat"] = self.features[i]
        return item
