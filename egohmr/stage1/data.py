"""Stage-1 datasets: `EgoBodyDataset` samples with scene points subsampled.

`Stage1Items` wraps an `EgoBodyDataset` (stage 1) and keeps `num_scene_points` of the stored scene points, drawn
without replacement (`egohmr.preprocess.sampling.subset_indices`) from the frame's ``stage1-subset`` stream of
(seed, image file stem) for evaluation (the draw ``egohmr infer`` makes for the frame), or from (seed, epoch, frame row)
for training, so every epoch sees another subset. Cached image features (and, with `data.feature_views` > 1, the
choice of an augmented view per epoch) are added on top by `egohmr.data.feature_cache.CachedFeatureDataset`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from egohmr.data.dataset import EgoBodyDataOptions, EgoBodyDataset
from egohmr.data.egobody_format import annotation_path
from egohmr.preprocess.sampling import STAGE1_SUBSET, frame_key, frame_rng, subset_indices
from egohmr.stage1.config import Stage1Config

__all__ = ["Stage1Items", "check_stage1_inputs", "make_egobody_dataset"]


class Stage1Items(Dataset):
    """Stage-1 view of an `EgoBodyDataset` (see the module docstring).

    Args:
        base: stage-1 `EgoBodyDataset` with a scene folder.
        num_scene_points: points kept per frame (all when >= the stored count).
        seed: seed of the point subsets.
        vary_with_epoch: draw a new subset each epoch (training).
    """

    def __init__(
        self,
        base: EgoBodyDataset,
        num_scene_points: int,
        seed: int = 0,
        vary_with_epoch: bool = False,
    ) -> None:
        self.base = base
        self.num_scene_points = num_scene_points
        self.seed = seed
        self.vary_with_epoch = vary_with_epoch
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.base)

    def set_epoch(self, epoch: int) -> None:
        """Epoch of the augmentation and point-subset draws."""
        self.epoch = int(epoch)
        self.base.set_epoch(epoch)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self._keep_scene_subset(i, self.base[i])

    def view_item(self, i: int, view: int) -> dict[str, torch.Tensor]:
        """Frame ``i`` under the fixed view ``view`` (`EgoBodyDataset.view_item`), scene points subsampled as in
        ``__getitem__``."""
        return self._keep_scene_subset(i, self.base.view_item(i, view))

    def _keep_scene_subset(self, i: int, sample: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        points = sample.get("scene_points_pv")
        if points is not None and points.shape[0] > self.num_scene_points:
            if self.vary_with_epoch:
                rng = np.random.default_rng([self.seed, self.epoch, int(sample["index"])])
            else:
                rng = frame_rng(self.seed, frame_key(self.base.imgnames[i]), STAGE1_SUBSET)
            keep = subset_indices(points.shape[0], self.num_scene_points, rng)
            sample["scene_points_pv"] = points[torch.from_numpy(keep)]
        return sample


def check_stage1_inputs(root: str | Path, split: str, scene_dir: str | Path) -> None:
    """Fail early, naming the missing file and the command that makes it.

    Raises:
        FileNotFoundError: no annotation npz or no stage-1 scene files for `split`.
    """
    npz = annotation_path(Path(root), split)
    if not Path(npz).is_file():
        raise FileNotFoundError(
            f"missing annotation file {npz} (data.root={root}; EgoBody's annotation_egocentric_smpl_npz, or make a "
            "synthetic dataset with `egohmr synth --out DIR`)"
        )
    for name in (f"pcd_verts_dict_{split}.pkl", f"map_dict_{split}.pkl"):
        path = Path(scene_dir) / name
        if not path.is_file():
            raise FileNotFoundError(
                f"missing stage-1 scene file {path} (data.scene_dir={scene_dir}); write it with "
                f"`egohmr preprocess scene-s1 --dataset {root} --split {split} --out {scene_dir}`"
            )


def make_egobody_dataset(
    cfg: Stage1Config, split: str, training: bool, load_images: bool, spacing: int = 1
) -> EgoBodyDataset:
    """The stage-1 `EgoBodyDataset` of a split for this config (per-epoch augmentation only when training, enabled
    and images are not replaced by cached features; cached features get theirs from `data.feature_views`).

    Raises:
        FileNotFoundError: missing annotation or scene files (see `check_stage1_inputs`).
    """
    scene_dir = cfg.data.resolved_scene_dir()
    check_stage1_inputs(cfg.data.root, split, scene_dir)
    augment = training and cfg.data.augment and not cfg.model.cached_features
    return EgoBodyDataset(
        EgoBodyDataOptions(
            root=cfg.data.root,
            split=split,  # type: ignore[arg-type]
            stage=1,
            scene_dir=scene_dir,
            crop_size_px=cfg.model.image_size_px,
            bbox_enlarge=cfg.data.bbox_enlarge,
            augment=augment,
            seed=cfg.train.seed,
            num_scene_points=None,
            load_images=load_images,
            spacing=spacing,
        )
    )
