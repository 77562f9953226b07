"""The demo's highlights: the best and the worst frame by a fixed per-frame metric, stacked."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from egohmr.pipeline.demo import write_highlights

PAD = 24  # label band above each strip
GAP = 8  # white rows between the strips


def _solid_overlays(tmp_path, colours, size=(40, 120)):
    paths = []
    for i, colour in enumerate(colours):
        path = tmp_path / f"{i}_overlay.png"
        Image.fromarray(np.full((*size, 3), colour, np.uint8)).save(path)
        paths.append(path)
    return paths


def _read(path):
    return np.asarray(Image.open(path).convert("RGB"))


def test_best_strip_on_top_worst_below(tmp_path):
    colours = [(200, 0, 0), (0, 200, 0), (0, 0, 200), (90, 90, 90)]
    overlays = _solid_overlays(tmp_path, colours)
    out = write_highlights(tmp_path / "highlights.png", overlays, [250.0, 120.0, np.nan, 410.0])
    img = _read(out)
    h = 40
    assert img.shape == (2 * (PAD + h) + GAP, 120, 3)
    top = img[PAD + h // 2, -10]
    bottom = img[2 * PAD + GAP + h + h // 2, -10]
    np.testing.assert_array_equal(top, colours[1])  # lowest metric: frame 1
    np.testing.assert_array_equal(bottom, colours[3])  # highest: frame 3 (NaN frames are never chosen)


def test_one_strip_when_best_is_worst(tmp_path):
    overlays = _solid_overlays(tmp_path, [(10, 20, 30)])
    img = _read(write_highlights(tmp_path / "h.png", overlays, [99.0]))
    assert img.shape == (PAD + 40, 120, 3)


def test_no_finite_value_is_an_error(tmp_path):
    overlays = _solid_overlays(tmp_path, [(1, 2, 3), (4, 5, 6)])
    with pytest.raises(ValueError, match="mpjpe_mm"):
        write_highlights(tmp_path / "h.png", overlays, [np.nan, np.nan])
