"""Augmented views of cached image features: `EgoBodyDataset.view_item`, the (N, K, D) cache and the training items
that serve one view per epoch with that view's geometry."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from egohmr.data.augment import AugmentConfig, augment_rng, draw_view, sample_augment_params
from egohmr.data.dataset import EgoBodyDataOptions, EgoBodyDataset
from egohmr.data.feature_cache import (
    CachedFeatureDataset,
    compute_features,
    feature_paths,
    load_features,
    load_or_compute_features,
)
from egohmr.stage1.data import Stage1Items

GEOMETRY = ("kp2d_op25_full_px", "kp2d_op25_crop_norm", "joints3d_pv", "transl_pv", "cx", "bbox_center_px")
OLD_META_KEYS = {"backbone", "crop_size_px", "bbox_enlarge", "num_frames", "imgnames_sha1", "weights_sha1", "images"}


def _options(tiny, **changes) -> EgoBodyDataOptions:
    size = (tiny.width, tiny.height)
    opt = EgoBodyDataOptions(root=str(tiny.root), split="train", stage=1, crop_size_px=32, image_size_px=size, seed=3)
    return dataclasses.replace(opt, **changes)


def _backbone() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 5, stride=4), nn.Tanh(), nn.AdaptiveAvgPool2d(2), nn.Flatten())


def _run(backbone: nn.Module, crop: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return backbone.eval()(crop[None])[0]


def _assert_same_items(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_one_view_keeps_the_old_cache_layout(tiny_egobody, tmp_path):
    images, backbone = EgoBodyDataset(_options(tiny_egobody)), _backbone()
    feats = compute_features(images, backbone, "tiny", tmp_path)
    npy, meta = feature_paths(tmp_path, "train")
    assert feats.shape == (len(images), 16) and npy.name == "train.npy" and meta.name == "train.json"
    assert set(json.loads(meta.read_text())) == OLD_META_KEYS
    np.testing.assert_allclose(feats[2], _run(backbone, images[2]["img_crop"]).numpy(), rtol=1e-5, atol=1e-6)


def test_view_zero_is_the_plain_item_and_views_are_fixed(tiny_egobody):
    plain = EgoBodyDataset(_options(tiny_egobody))
    augmenting = EgoBodyDataset(_options(tiny_egobody, augment=True))
    for i in range(len(plain)):
        _assert_same_items(plain.view_item(i, 0), plain[i])
    augmenting.set_epoch(5)
    first = [augmenting.view_item(i, 2) for i in range(len(plain))]
    augmenting.set_epoch(6)
    for i, item in enumerate(first):
        _assert_same_items(item, augmenting.view_item(i, 2))  # same in every epoch
        _assert_same_items(item, plain.view_item(i, 2))  # and whether or not the epochs augment
    moved = [not torch.equal(v["bbox_center_px"], plain[i]["bbox_center_px"]) for i, v in enumerate(first)]
    assert all(not torch.equal(v["img_crop"], plain[i]["img_crop"]) for i, v in enumerate(first)) and any(moved)
    # a view is not the epoch stream of the same numbers
    row = int(plain.rows[1])
    assert plain.view_params(1, 2) != sample_augment_params(AugmentConfig(), augment_rng(3, 2, row))
    assert plain.view_params(1, 2) != plain.view_params(1, 3)


class _Views(Dataset):
    def __init__(self, base: EgoBodyDataset, view: int) -> None:
        self.base, self.view = base, view

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict:
        return self.base.view_item(i, self.view)


def test_views_agree_across_loader_workers(tiny_egobody):
    views = _Views(EgoBodyDataset(_options(tiny_egobody)), 1)
    (in_process,) = list(DataLoader(views, batch_size=len(views)))
    (in_workers,) = list(DataLoader(views, batch_size=len(views), num_workers=2))
    _assert_same_items(in_process, in_workers)


def test_training_items_serve_one_view_with_its_geometry(tiny_egobody, tmp_path):
    images, backbone = EgoBodyDataset(_options(tiny_egobody)), _backbone()
    feats = compute_features(images, backbone, "tiny", tmp_path, num_views=3)
    assert feats.shape == (len(images), 3, 16)
    for i, k in ((0, 0), (1, 2), (4, 1)):
        crop = images.view_item(i, k)["img_crop"]
        np.testing.assert_allclose(feats[i, k], _run(backbone, crop).numpy(), rtol=1e-5, atol=1e-6)
    items = CachedFeatureDataset(EgoBodyDataset(_options(tiny_egobody, load_images=False)), feats, seed=3)
    used = set()
    for epoch in range(4):
        items.set_epoch(epoch)
        for i in range(len(items)):
            item = items[i]
            k = draw_view(3, epoch, i, 3)
            used.add(k)
            assert "img_crop" not in item
            torch.testing.assert_close(item["img_feat"], torch.from_numpy(feats[i, k]), rtol=0, atol=0)
            view = images.view_item(i, k)
            for key in GEOMETRY:
                torch.testing.assert_close(item[key], view[key], rtol=0, atol=0, msg=key)
    assert used == {0, 1, 2}
    items.set_epoch(2)
    (in_process,) = list(DataLoader(items, batch_size=len(items)))
    (in_workers,) = list(DataLoader(items, batch_size=len(items), num_workers=2))
    _assert_same_items(in_process, in_workers)


def test_stage1_items_keep_the_view_of_their_scene_points(tiny_egobody, s1_dir):
    base = EgoBodyDataset(_options(tiny_egobody, scene_dir=str(s1_dir), num_scene_points=None, load_images=False))
    items = Stage1Items(base, num_scene_points=10_000, seed=3, vary_with_epoch=True)
    k = next(k for k in range(1, 20) if base.view_params(1, k).flip or base.view_params(1, k).rot_rad != 0)
    view = base.view_item(1, k)
    _assert_same_items(items.view_item(1, k), view)
    assert not torch.allclose(view["scene_points_pv"], base.view_item(1, 0)["scene_points_pv"])
    subset = Stage1Items(base, num_scene_points=50, seed=3, vary_with_epoch=True).view_item(1, k)
    assert subset["scene_points_pv"].shape == (50, 3)


def test_a_cache_of_other_views_is_refused_by_field(tiny_egobody, tmp_path):
    images, backbone = EgoBodyDataset(_options(tiny_egobody)), _backbone()
    views = load_or_compute_features(images, backbone, "tiny", tmp_path, num_views=3)
    single = load_or_compute_features(images, backbone, "tiny", tmp_path)  # its own file, next to the views
    np.testing.assert_array_equal(single, views[:, 0])
    np.testing.assert_array_equal(load_features(tmp_path, images, "tiny", backbone, 3), views)
    with pytest.raises(ValueError, match=r"feature_views: 3 != 2"):
        load_or_compute_features(images, backbone, "tiny", tmp_path, num_views=2)
    other_seed = EgoBodyDataset(_options(tiny_egobody, seed=4))
    with pytest.raises(ValueError, match=r"augment_seed: 3 != 4"):
        load_or_compute_features(other_seed, backbone, "tiny", tmp_path, num_views=3)
    other_aug = EgoBodyDataset(_options(tiny_egobody, augment_config=AugmentConfig(flip_prob=0.0)))
    with pytest.raises(ValueError, match=r"augment_config: "):
        load_or_compute_features(other_aug, backbone, "tiny", tmp_path, num_views=3)
    with pytest.raises(ValueError, match=r"data.feature_views"):
        load_or_compute_features(images, backbone, "tiny", tmp_path, num_views=0)


def test_views_need_a_dataset_that_serves_them(tiny_egobody):
    plain = [{"x": torch.zeros(1)}] * 3
    with pytest.raises(ValueError, match=r"view_item"):
        CachedFeatureDataset(plain, np.zeros((3, 2, 4), dtype=np.float32))


def test_stage1_config_checks_the_view_count():
    from egohmr.stage1.config import load_stage1_config

    cfg = load_stage1_config("cpu", ["data.feature_views=8", "data.augment=true"])
    assert cfg.data.feature_views == 8 and load_stage1_config("cpu").data.feature_views == 1
    with pytest.raises(ValueError, match=r"data.feature_views must be >= 1, got 0"):
        load_stage1_config("cpu", ["data.feature_views=0"])
    with pytest.raises(ValueError, match=r"data.feature_views=8 .*needs .*data.augment=true"):
        load_stage1_config("cpu", ["data.feature_views=8"])
    with pytest.raises(ValueError, match=r"data.feature_views=2 .*needs model.cached_features=true"):
        load_stage1_config("official", ["data.feature_views=2"])


def test_stage2_config_checks_the_view_count():
    from egohmr.stage2.config import load_stage2_config

    cfg = load_stage2_config("cpu", ["data.feature_views=8", "data.augment=true"])
    assert cfg.data.feature_views == 8 and load_stage2_config("cpu").data.feature_views == 1
    with pytest.raises(ValueError, match=r"data.feature_views must be >= 1, got 0"):
        load_stage2_config("cpu", ["data.feature_views=0"])
    with pytest.raises(ValueError, match=r"data.feature_views=8 .*needs .*data.augment=true"):
        load_stage2_config("cpu", ["data.feature_views=8"])
    with pytest.raises(ValueError, match=r"data.feature_views=2 .*needs model.image_features='cached'"):
        load_stage2_config("official", ["data.feature_views=2"])
    with pytest.raises(ValueError, match=r"data.augment=true needs data.feature_views > 1"):
        load_stage2_config("cpu", ["data.augment=true"])


def test_stage1_training_sets_use_views_for_training_only(tiny_egobody, s1_dir, monkeypatch):
    from egohmr.stage1 import train as stage1_train
    from egohmr.stage1.config import load_stage1_config

    asked = {}

    def fake_features(cfg, model, split, spacing, num_views):
        asked[split] = num_views
        n = len(EgoBodyDataset(_options(tiny_egobody, split=split, spacing=spacing)))
        shape = (n, num_views, 4) if num_views > 1 else (n, 4)
        return np.arange(np.prod(shape), dtype=np.float32).reshape(shape)

    monkeypatch.setattr(stage1_train, "_features", fake_features)
    overrides = [f"data.root={tiny_egobody.root}", f"data.scene_dir={s1_dir}", "data.val_split=test"]
    cfg = load_stage1_config("cpu", [*overrides, "data.feature_views=3", "data.augment=true", "train.seed=3"])
    train_set, val_set = stage1_train.build_training_sets(cfg, model=None)
    assert asked == {"train": 3, "test": 1}
    assert train_set.num_views == 3 and val_set.num_views == 1
    train_set.set_epoch(1)
    k = draw_view(3, 1, 2, 3)
    torch.testing.assert_close(train_set[2]["img_feat"], train_set.features[2, k])
    torch.testing.assert_close(train_set[2]["bbox_size_px"], train_set.base.base.view_item(2, k)["bbox_size_px"])
