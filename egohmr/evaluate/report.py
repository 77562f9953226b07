"""Evaluation reports: `metrics.json` (every number and the settings), `per_frame.csv`, `metrics.md`, plots.

`write_report` is the one writer of `egohmr eval`, `egohmr demo` and `egohmr test stage2`. All files are written
atomically. NaN and infinities (undefined metrics) become `null` in JSON (which stays strict JSON) and empty cells in
CSV / "-" in markdown.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from egohmr.constants import MM_PER_M
from egohmr.evaluate import metrics as M
from egohmr.evaluate.aggregate import DIVERSITY_NAMES, JOINT_FAMILIES, VERTEX_FAMILIES, FrameStats
from egohmr.evaluate.distribution import CALIBRATION_LEVELS
from egohmr.files import atomic_write_text

REPORT_FORMAT_VERSION = 1
DISPLAY_NAMES: dict[str, str] = {
    "g_mpjpe": "G-MPJPE",
    "mpjpe": "MPJPE",
    "pa_mpjpe": "PA-MPJPE",
    "g_v2v": "G-V2V",
    "v2v": "V2V",
    "pa_v2v": "PA-V2V",
    "std_joints": "std (joints)",
    "apd_joints": "APD (joints)",
}


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, numpy scalars and arrays -> Python numbers and lists, tuples -> lists."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_text(path: Path, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


def write_metrics_json(path: str | Path, metrics: Mapping[str, float], settings: Mapping[str, Any]) -> None:
    """Write `{"format_version", "metrics", "settings"}` as sorted, indented JSON.

    Args:
        path: output file.
        metrics: {metric name: value}.
        settings: everything that produced the numbers (mode, body source, num_samples, results file, date, ...).
    """
    doc = {"format_version": REPORT_FORMAT_VERSION, "metrics": _clean(dict(metrics)), "settings": _clean(settings)}
    _write_text(Path(path), json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n")


def per_frame_table(stats: FrameStats, imgname: np.ndarray) -> tuple[list[str], list[list[float | str | int]]]:
    """Per-frame values (averaged over samples, mm where `_mm`).

    Returns:
        (header, rows): one row per frame.
    """
    s = stats.num_samples
    j_vis = stats.joint_visible.sum(axis=-1)
    j_all = stats.joint_visible.shape[-1]
    v_vis, v_all = stats.vertex_visible_count, stats.num_vertices
    columns: dict[str, np.ndarray] = {
        "joint_vis_count": j_vis,
        "truncation": (j_all - j_vis) / j_all,
        "vertex_vis_count": v_vis,
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in JOINT_FAMILIES + VERTEX_FAMILIES:
            fam = stats.family(name)
            vis_n, all_n = (j_vis, j_all) if name in JOINT_FAMILIES else (v_vis, v_all)
            columns[f"{name}_mm"] = MM_PER_M * fam.mean.mean(axis=1)
            columns[f"{name}_vis_mm"] = MM_PER_M * fam.vis_sum.sum(axis=1) / (vis_n * s)
            columns[f"{name}_invis_mm"] = MM_PER_M * fam.invis_sum.sum(axis=1) / ((all_n - vis_n) * s)
        best, best_index = M.best_of_n_sum(stats.mpjpe.invis_sum)
        columns["min_mpjpe_invis_mm"] = MM_PER_M * best / (j_all - j_vis)
        columns["min_mpjpe_invis_sample"] = best_index
    for name in DIVERSITY_NAMES:
        columns[f"{name}_mm"] = MM_PER_M * getattr(stats, name)
    columns["collision_ratio"] = stats.collision.mean(axis=1)
    columns["contact_ratio"] = stats.contact.mean(axis=1)
    header = ["row", "imgname", *columns]
    rows = []
    for i in range(stats.num_frames):
        row: list[float | str | int] = [i, str(imgname[i])]
        for values in columns.values():
            v = values[i].item()
            row.append("" if isinstance(v, float) and not math.isfinite(v) else v)
        rows.append(row)
    return header, rows


def write_per_frame_csv(path: str | Path, stats: FrameStats, imgname: np.ndarray) -> None:
    """Write `per_frame.csv` (see `per_frame_table`)."""
    header, rows = per_frame_table(stats, imgname)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
    _write_text(Path(path), buf.getvalue())


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def metrics_markdown(metrics: Mapping[str, float], settings: Mapping[str, Any]) -> str:
    """Markdown report: accuracy table (all / vis / invis), scene and diversity numbers, settings."""
    lines = ["# EgoHMR evaluation", ""]
    lines += [
        f"Mode `{settings.get('mode', '?')}`, {settings.get('num_samples', '?')} sample(s) per frame, "
        f"{int(metrics.get('num_frames', 0))} frames, results `{settings.get('results_file', '?')}`.",
        "",
        "| metric (mm) | all | visible | invisible |",
        "|---|---:|---:|---:|",
    ]
    for name in JOINT_FAMILIES + VERTEX_FAMILIES:
        lines.append(
            f"| {DISPLAY_NAMES[name]} | {_fmt(metrics.get(f'{name}_mm'))} | {_fmt(metrics.get(f'{name}_vis_mm'))} "
            f"| {_fmt(metrics.get(f'{name}_invis_mm'))} |"
        )
    lines.append(f"| MPJPE, best of N | | | {_fmt(metrics.get('min_mpjpe_invis_mm'))} |")
    for name in ("std_joints", "apd_joints"):
        lines.append(
            f"| {DISPLAY_NAMES[name]} | {_fmt(metrics.get(f'{name}_mm'))} | {_fmt(metrics.get(f'{name}_vis_mm'))} "
            f"| {_fmt(metrics.get(f'{name}_invis_mm'))} |"
        )
    energy = [_fmt(metrics.get(f"energy_score_{subset}_mm")) for subset in ("vis", "invis")]
    lines.append(f"| energy score | | {energy[0]} | {energy[1]} |")
    lines += [
        "",
        "| calibration (GT joints inside the samples' level-α ball) | visible | invisible |",
        "|---|---:|---:|",
    ]
    for level in CALIBRATION_LEVELS:
        pct = round(100 * level)
        lines.append(
            f"| α = {pct} % | {_fmt(metrics.get(f'coverage_vis_{pct}'), 3)} "
            f"| {_fmt(metrics.get(f'coverage_invis_{pct}'), 3)} |"
        )
    lines += ["", "| scene metric | value |", "|---|---:|"]
    for key in ("collision_ratio", "contact_ratio", "stored_collision_ratio", "stored_contact_ratio"):
        if key in metrics:
            lines.append(f"| `{key}` | {_fmt(metrics.get(key), 4)} |")
    lines += ["", "## Settings", "", "| setting | value |", "|---|---|"]
    for key in sorted(settings):
        lines.append(f"| {key} | `{settings[key]}` |")
    lines += ["", "Definitions: docs/metrics.md.", ""]
    return "\n".join(lines)


def write_metrics_md(path: str | Path, metrics: Mapping[str, float], settings: Mapping[str, Any]) -> None:
    """Write `metrics.md` (see `metrics_markdown`)."""
    _write_text(Path(path), metrics_markdown(metrics, settings))


def write_report(
    out_dir: str | Path,
    metrics: Mapping[str, float],
    settings: Mapping[str, Any],
    stats: FrameStats | None = None,
    imgname: np.ndarray | None = None,
    plots: bool = True,
) -> list[Path]:
    """Write the reports of one evaluation into ``out_dir``.

    Always ``metrics.json`` and ``metrics.md``; with per-frame statistics also ``per_frame.csv`` and, when ``plots``,
    the PNG figures of `egohmr.evaluate.plots` (matplotlib is imported only then).

    Args:
        out_dir: output folder (created).
        metrics: {metric name: value}; NaN/inf are written as null.
        settings: everything that produced the numbers (mode, num_samples, results file, ...).
        stats: per-frame statistics (`EvaluationOutput.stats`), or None.
        imgname: (N,) frame names in row order; required with ``stats``.
        plots: write the figures (only with ``stats``).

    Returns:
        Paths written, in the order above.

    Raises:
        ValueError: ``stats`` without ``imgname``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_metrics_json(out / "metrics.json", metrics, settings)
    write_metrics_md(out / "metrics.md", metrics, settings)
    paths = [out / "metrics.json", out / "metrics.md"]
    if stats is None:
        return paths
    if imgname is None:
        raise ValueError("write_report: per-frame stats need imgname (the frame names in row order)")
    write_per_frame_csv(out / "per_frame.csv", stats, imgname)
    paths.append(out / "per_frame.csv")
    if plots:
        from egohmr.evaluate.plots import write_plots

        paths += write_plots(stats, out)
    return paths
