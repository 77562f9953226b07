"""Image-feature cache and `synth --out`: stale inputs are refused by name; overwrite recomputes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image
from torch import nn

from egohmr.data.dataset import EgoBodyDataOptions, EgoBodyDataset
from egohmr.data.feature_cache import load_or_compute_features
from egohmr.jobs import StaleOutputError
from egohmr.synth.generate import SynthConfig, generate_dataset
from tests.synth import synth_body_source


def _images(tiny) -> EgoBodyDataset:
    size = (tiny.width, tiny.height)
    opt = EgoBodyDataOptions(root=str(tiny.root), split="test", stage=1, crop_size_px=32, image_size_px=size)
    return EgoBodyDataset(opt)


def _backbone() -> nn.Module:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4))


def test_feature_cache_refuses_a_changed_image_and_overwrite_recomputes(own_egobody, tmp_path):
    images, backbone, folder = _images(own_egobody), _backbone(), tmp_path / "features"
    first = load_or_compute_features(images, backbone, "tiny", folder)
    np.testing.assert_array_equal(load_or_compute_features(images, backbone, "tiny", folder), first)
    path = images.image_path(0)
    pixels = np.asarray(Image.open(path))
    Image.fromarray(255 - pixels).save(path)
    with pytest.raises(ValueError, match=r"images: 'listing:"):
        load_or_compute_features(images, backbone, "tiny", folder)
    again = load_or_compute_features(images, backbone, "tiny", folder, overwrite=True)
    assert not np.allclose(again[0], first[0])
    np.testing.assert_array_equal(again[1:], first[1:])


def _synth(out, **changes) -> SynthConfig:
    base = SynthConfig(out=out, seed=1, num_scenes=1, num_recordings=1, num_frames=3, width=64, height=48, workers=1)
    return dataclasses.replace(base, body_source=synth_body_source(), **changes)


def test_synth_refuses_an_existing_dataset_of_other_settings_and_foreign_folders(tmp_path):
    out = tmp_path / "ds"
    generate_dataset(_synth(out))
    (out / "stale_extra.txt").write_text("from the old dataset")
    with pytest.raises(StaleOutputError, match=r"parameter seed: 1 -> 2"):
        generate_dataset(_synth(out, seed=2))
    generate_dataset(_synth(out, seed=2, overwrite=True))
    assert not (out / "stale_extra.txt").exists()  # the old dataset is removed, not mixed
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "photos").mkdir()
    with pytest.raises(StaleOutputError, match=r"photos.*not made by an egohmr synth job"):
        generate_dataset(_synth(foreign))
