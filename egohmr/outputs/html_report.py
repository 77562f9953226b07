"""``index.html``: one self-contained page over an output folder, opened from disk with no server.

It shows the sequence runs of `egohmr infer` (``sequence_*.npz``: their notes and files), the evaluation (the
metrics table from ``metrics.json`` written by `egohmr.evaluate.report`, links to ``metrics.md`` /
``per_frame.csv``, the PNG plots) and, per frame, the overlay strip, the scene view, per-frame metrics and links to
the ``.glb`` and the frame record. Everything is found on disk, linked by relative paths, and escaped; the page has
inline CSS only (no scripts, nothing fetched from the network).
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from egohmr.files import atomic_write_text
from egohmr.outputs.frame_record import find_frame_records
from egohmr.outputs.palette import GT_RGB, MODE_RGB, sample_rgb
from egohmr.outputs.sequence_outputs import find_sequence_results, load_sequence_metadata
from egohmr.outputs.writer import frame_output_paths

__all__ = ["render_html_report", "write_html_report"]

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1800px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
.plots img { max-width: 48%; margin: 0.3em; vertical-align: top; }
.frame { margin: 1.2em 0 2em 0; } .views img { display: block; margin: 0.4em 0; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #555; vertical-align: middle; }
.muted { color: #777; } code { background: #f3f3f3; padding: 0 0.2em; }
"""


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _href(path: Path, root: Path) -> str:
    """Relative, URL-quoted POSIX link from `root` to `path`."""
    rel = Path(os.path.relpath(path, root)).as_posix()
    return quote(rel, safe="/._-~")


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool | str):
        return _esc(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    try:
        v = float(value)
    except (TypeError, ValueError):
        return _esc(value)
    if not math.isfinite(v):
        return "-"
    return f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}"


def _table(rows: Mapping[str, Any], header: tuple[str, str]) -> list[str]:
    out = ["<table>", f"<tr><th>{_esc(header[0])}</th><th>{_esc(header[1])}</th></tr>"]
    for key, value in rows.items():
        cls = "" if isinstance(value, str) else ' class="num"'
        text = _esc(value) if isinstance(value, str) else _num(value)
        out.append(f"<tr><td><code>{_esc(key)}</code></td><td{cls}>{text}</td></tr>")
    out.append("</table>")
    return out


def _legend(num_samples: int) -> str:
    def sw(rgb) -> str:
        r, g, b = (int(c) for c in rgb)
        return f'<span class="swatch" style="background: rgb({r}, {g}, {b})"></span>'

    others = " ".join(sw(sample_rgb(i)) for i in range(1, max(2, min(num_samples, 6))))
    return f"<p>{sw(GT_RGB)} ground truth &nbsp; {sw(MODE_RGB)} mode sample &nbsp; {others} other samples</p>"


def _read_record_summary(path: Path) -> dict[str, Any]:
    """Name, sample count, visible-joint count and metrics of a frame record, without loading the big arrays."""
    with np.load(path, allow_pickle=False) as data:
        summary: dict[str, Any] = {"name": str(data["name"]) if "name" in data.files else path.stem}
        summary["num_samples"] = int(data["pred_vertices_pv"].shape[0]) if "pred_vertices_pv" in data.files else 0
        summary["has_gt"] = "gt_vertices_pv" in data.files
        if "joint_visible" in data.files:
            vis = data["joint_visible"]
            summary["visible_joints"] = f"{int(vis.sum())} / {vis.size}"
        summary["metrics"] = json.loads(str(data["metrics_json"])) if "metrics_json" in data.files else None
    return summary


def _sequence_section(root: Path) -> list[str]:
    """One entry per ``sequence_*.npz``: frames, scene frame, the run's notes and links to its files."""
    results = find_sequence_results(root)
    if not results:
        return []
    parts = [f"<h2>Sequences ({len(results)})</h2>"]
    for path in results:
        try:
            meta = load_sequence_metadata(path)
        except (OSError, ValueError, KeyError) as err:
            parts.append(f"<p class='muted'>could not read {_esc(path.name)}: {_esc(err)}</p>")
            continue
        parts.append(f"<h3>{_esc(path.stem)}</h3>")
        parts.append(f"<p>frames: {_esc(meta.get('num_frames'))} · results frame: {_esc(meta.get('scene_frame'))}</p>")
        notes = meta.get("notes") or []
        if notes:
            parts.append("<ul>" + "".join(f"<li>{_esc(n)}</li>" for n in notes) + "</ul>")
        files = [(path, "results (.npz)"), (path.with_suffix(".glb"), "whole sequence in the scene (.glb)")]
        links = [f'<a href="{_href(p, root)}">{_esc(label)}</a>' for p, label in files if p.is_file()]
        parts.append("<p>" + " · ".join(links) + "</p>")
    return parts


def render_html_report(
    out_dir: str | os.PathLike[str],
    title: str = "EgoHMR results",
    metrics_dir: str | os.PathLike[str] | None = None,
    notes: Sequence[str] = (),
) -> str:
    """Build the page's HTML for `out_dir` (see `write_html_report`)."""
    root = Path(out_dir)
    mdir = root if metrics_dir is None else Path(metrics_dir)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{_esc(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_esc(title)}</h1>",
    ]
    if notes:
        parts.append("<ul>" + "".join(f"<li>{_esc(n)}</li>" for n in notes) + "</ul>")

    parts += _sequence_section(root)

    # Evaluation
    metrics_json = mdir / "metrics.json"
    parts.append("<h2>Metrics</h2>")
    if metrics_json.is_file():
        try:
            doc = json.loads(metrics_json.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            parts.append(f"<p class='muted'>could not read {_esc(metrics_json.name)}: {_esc(err)}</p>")
            doc = {}
        metrics = doc.get("metrics") or {}
        settings = doc.get("settings") or {}
        if metrics:
            parts += _table(metrics, ("metric", "value"))
        if settings:
            parts.append("<details><summary>settings</summary>")
            parts += _table(
                {k: json.dumps(v) if not isinstance(v, str) else v for k, v in settings.items()}, ("setting", "value")
            )
            parts.append("</details>")
    else:
        parts.append("<p class='muted'>No metrics.json (ground truth unknown or evaluation skipped).</p>")
    links = [p for p in (metrics_json, mdir / "metrics.md", mdir / "per_frame.csv") if p.is_file()]
    if links:
        parts.append(
            "<p>Files: " + " · ".join(f'<a href="{_href(p, root)}">{_esc(p.name)}</a>' for p in links) + "</p>"
        )
    plots = sorted(p for p in mdir.glob("*.png") if p.is_file())
    if plots:
        parts.append("<h2>Evaluation plots</h2>")
        parts.append('<div class="plots">')
        for p in plots:
            parts.append(f'<a href="{_href(p, root)}"><img src="{_href(p, root)}" alt="{_esc(p.stem)}"></a>')
        parts.append("</div>")

    # Frames
    records = find_frame_records(root)
    parts.append(f"<h2>Frames ({len(records)})</h2>")
    if records:
        first = _read_record_summary(records[0])
        parts.append(_legend(first["num_samples"]))
        parts.append("<ul>")
        for rec in records:
            parts.append(f'<li><a href="#{_esc(quote(rec.stem))}">{_esc(rec.stem)}</a></li>')
        parts.append("</ul>")
    for rec in records:
        summary = _read_record_summary(rec)
        paths = frame_output_paths(root, rec.stem)
        parts.append(f'<div class="frame" id="{_esc(rec.stem)}">')
        parts.append(f"<h3>{_esc(summary['name'])}</h3>")
        info = {"samples": summary["num_samples"], "ground truth": "yes" if summary["has_gt"] else "no"}
        if "visible_joints" in summary:
            info["visible joints"] = summary["visible_joints"]
        parts.append("<p>" + " · ".join(f"{_esc(k)}: {_esc(v)}" for k, v in info.items()) + "</p>")
        if summary["metrics"]:
            parts += _table(summary["metrics"], ("frame metric", "value"))
        parts.append('<div class="views">')
        for p, alt in ((paths.overlay, "overlays"), (paths.scene_view, "scene view")):
            if p is not None and p.is_file():
                parts.append(f'<img src="{_href(p, root)}" alt="{_esc(alt)}" loading="lazy">')
        parts.append("</div>")
        files = [(paths.glb, "3D scene (.glb)"), (paths.record, "frame record (.npz)")]
        links = [f'<a href="{_href(p, root)}">{_esc(label)}</a>' for p, label in files if p is not None and p.is_file()]
        parts.append("<p>" + " · ".join(links) + "</p>")
        parts.append("</div>")
    parts.append(
        "<p class='muted'>Open the .glb files in any glTF viewer (y-up; see docs/outputs.md), or run "
        f"<code>egohmr view {_esc(root.name)}</code> for an interactive viewer.</p>"
    )
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def write_html_report(
    out_dir: str | os.PathLike[str],
    title: str = "EgoHMR results",
    metrics_dir: str | os.PathLike[str] | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write ``out_dir/index.html`` over everything found in the folder (atomically).

    Args:
        out_dir: the output folder (frame records under ``frames/``).
        title: page title.
        metrics_dir: where ``metrics.json``, ``metrics.md``, ``per_frame.csv`` and the plot PNGs are (default:
            `out_dir`); must be inside `out_dir` for the links to stay relative.
        notes: sentences shown under the title (e.g. what the checkpoints were trained on).

    Returns:
        The path of ``index.html``.
    """
    root = Path(out_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"output folder {root} does not exist")
    path = root / "index.html"
    atomic_write_text(path, render_html_report(root, title, metrics_dir, notes))
    return path
