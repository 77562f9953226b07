"""Report writers: JSON with settings (NaN/inf -> null), CSV, markdown, plots, and `write_report` over them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from egohmr.evaluate.aggregate import compute_frame_stats, summarize
from egohmr.evaluate.plots import binned_by_truncation, per_joint_means, write_plots
from egohmr.evaluate.report import (
    metrics_markdown,
    per_frame_table,
    write_metrics_json,
    write_per_frame_csv,
    write_report,
)


def _stats():
    rng = np.random.default_rng(0)
    vis = np.ones((3, 24), dtype=bool)
    vis[0, :6] = False
    return compute_frame_stats(
        rng.normal(size=(3, 2, 24, 3)), rng.normal(size=(3, 2, 9, 3)), rng.normal(size=(3, 24, 3)),
        rng.normal(size=(3, 9, 3)), vis, np.ones((3, 9), dtype=bool),
    )  # fmt: skip


def test_json_has_metrics_and_settings_and_no_nan(tmp_path):
    metrics = summarize(_stats())
    assert np.isnan(metrics["collision_ratio"])
    path = tmp_path / "metrics.json"
    write_metrics_json(path, metrics, {"mode": "corrected", "image_size_px": (1920, 1080), "num_samples": 2})
    text = path.read_text()
    assert "NaN" not in text
    doc = json.loads(text)
    assert doc["metrics"]["collision_ratio"] is None
    assert doc["metrics"]["mpjpe_mm"] == metrics["mpjpe_mm"]
    assert doc["settings"]["image_size_px"] == [1920, 1080]


def test_per_frame_table_and_csv(tmp_path):
    stats = _stats()
    header, rows = per_frame_table(stats, np.array(["a", "b", "c"]))
    assert header[:2] == ["row", "imgname"] and len(rows) == 3
    col = dict(zip(header, zip(*rows, strict=True), strict=True))
    assert col["truncation"] == (0.25, 0.0, 0.0)
    assert col["mpjpe_invis_mm"][1] == ""  # no invisible joint in frame 1
    assert abs(np.mean([float(v) for v in col["mpjpe_mm"]]) - summarize(stats)["mpjpe_mm"]) < 1e-9
    write_per_frame_csv(tmp_path / "per_frame.csv", stats, np.array(["a", "b", "c"]))
    lines = (tmp_path / "per_frame.csv").read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("row,imgname,")


def test_markdown_table():
    text = metrics_markdown(summarize(_stats()), {"mode": "official", "num_samples": 2, "results_file": "r.pkl"})
    assert "| PA-MPJPE |" in text and "Mode `official`" in text
    assert "| `collision_ratio` | - |" in text


def test_plot_helpers_and_files(tmp_path):
    per_joint = np.zeros((2, 1, 3))
    per_joint[0, 0] = [0.01, 0.02, 0.03]
    per_joint[1, 0] = [0.03, 0.04, 0.05]
    visible = np.array([[True, True, False], [True, False, False]])
    vis, invis = per_joint_means(per_joint, visible)
    np.testing.assert_allclose(vis, [20.0, 20.0, np.nan])
    np.testing.assert_allclose(invis, [np.nan, 40.0, 40.0])
    centres, means, counts = binned_by_truncation(np.array([1.0, 3.0, 10.0]), np.array([0.0, 0.1, 1.0]), bins=2)
    np.testing.assert_allclose(centres, [0.25, 0.75])
    np.testing.assert_allclose(means, [2.0, 10.0])
    assert counts.tolist() == [2, 1]
    paths = write_plots(_stats(), tmp_path)
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)


def test_json_writes_nan_and_inf_as_null_and_stays_strict(tmp_path):
    """Issue 17: metrics.json is strict JSON; every non-finite number (metrics, settings, numpy, arrays) is null."""
    metrics = {
        "mpjpe_mm": 12.5,
        "collision_ratio": float("nan"),
        "v2v_mm": float("inf"),
        "pa_mpjpe_mm": np.float32("-inf"),
    }
    settings = {"weights": np.array([1.0, np.nan]), "limit": float("inf"), "nested": {"x": (np.float64("nan"), 2)}}
    write_metrics_json(tmp_path / "metrics.json", metrics, settings)
    text = (tmp_path / "metrics.json").read_text()
    for token in ("NaN", "Infinity"):
        assert token not in text

    def refuse(constant: str):
        raise ValueError(f"non-standard JSON constant {constant}")

    doc = json.loads(text, parse_constant=refuse)
    assert doc["metrics"] == {"mpjpe_mm": 12.5, "collision_ratio": None, "v2v_mm": None, "pa_mpjpe_mm": None}
    assert doc["settings"] == {"weights": [1.0, None], "limit": None, "nested": {"x": [None, 2]}}


def test_write_report_files(tmp_path):
    stats = _stats()
    metrics = summarize(stats)
    names = ["a", "b", "c"]
    only_metrics = write_report(tmp_path / "m", metrics, {"mode": "corrected"})
    assert [p.name for p in only_metrics] == ["metrics.json", "metrics.md"]
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["metrics.json", "metrics.md"]
    full = write_report(tmp_path / "f", metrics, {"mode": "corrected"}, stats, np.array(names))
    assert [p.name for p in full[:3]] == ["metrics.json", "metrics.md", "per_frame.csv"]
    assert {p.name for p in full[3:]} == {
        "per_joint_errors.png",
        "error_vs_truncation.png",
        "diversity_vs_visibility.png",
        "calibration.png",
    }
    assert all(p.is_file() for p in full)
    markdown = (tmp_path / "f" / "metrics.md").read_text()
    assert "| energy score |" in markdown and "| α = 90 % |" in markdown
    assert json.loads((tmp_path / "f" / "metrics.json").read_text())["metrics"]["collision_ratio"] is None
    no_plots = write_report(tmp_path / "n", metrics, {}, stats, np.array(names), plots=False)
    assert [p.name for p in no_plots] == ["metrics.json", "metrics.md", "per_frame.csv"]
    with pytest.raises(ValueError, match="imgname"):
        write_report(tmp_path / "x", metrics, {}, stats)
