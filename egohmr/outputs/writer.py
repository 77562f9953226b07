"""Write every per-frame output of `egohmr demo` / `egohmr infer` into ``OUTPUT_DIR/frames/``.

For a frame with stem ``<stem>`` (see `frame_stem`):

- ``<stem>.npz``: the `FrameRecord` (read by `egohmr view` and `write_html_report`);
- ``<stem>_overlay.png``: the strip [input + box | mode sample | all samples | GT];
- ``<stem>_scene.png``: the frame in its 3D scene, seen from behind and above the wearer;
- ``<stem>.glb``: scene crop, GT and every sample as named nodes (glTF y-up axes).

Every file is written atomically.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from egohmr.files import atomic_write_bytes
from egohmr.outputs.frame_record import FRAMES_DIR, FrameRecord, frame_stem, save_frame_record
from egohmr.outputs.overlay import overlay_strip
from egohmr.outputs.scene_export import export_glb
from egohmr.outputs.scene_view import render_scene_view
from egohmr.render import Backend

__all__ = ["FrameOutputs", "frame_output_paths", "write_frame_outputs", "write_png"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameOutputs:
    """Paths of one frame's outputs (absent files are None)."""

    stem: str
    record: Path
    overlay: Path | None
    scene_view: Path | None
    glb: Path | None


def frame_output_paths(out_dir: str | os.PathLike[str], stem: str) -> FrameOutputs:
    """Where the outputs of frame `stem` go (whether or not they exist yet)."""
    folder = Path(out_dir) / FRAMES_DIR
    return FrameOutputs(
        stem=stem,
        record=folder / f"{stem}.npz",
        overlay=folder / f"{stem}_overlay.png",
        scene_view=folder / f"{stem}_scene.png",
        glb=folder / f"{stem}.glb",
    )


def write_png(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Write (H, W, 3) uint8 RGB as PNG, atomically."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="PNG", optimize=False)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def write_frame_outputs(
    record: FrameRecord,
    out_dir: str | os.PathLike[str],
    stem: str | None = None,
    backend: Backend = "auto",
    max_panel_width: int = 960,
    scene_view_size: tuple[int, int] = (960, 540),
    scene_samples: Literal["mode", "all"] = "all",
    scene_show_gt: bool = True,
    draw_bbox: bool = True,
    embed_image: bool = True,
    image: np.ndarray | None = None,
    scene_camera: tuple[Sequence[float], np.ndarray] | None = None,
) -> FrameOutputs:
    """Write the record, overlay strip, scene view and .glb of one frame under ``out_dir/frames/``.

    Args:
        record: the frame.
        out_dir: output folder (created if missing).
        stem: file stem; default ``frame_stem(record.name)`` (pass ``frame_stem(name, index)`` for unique names).
        backend: renderer backend ("auto": EGL when available, numpy otherwise).
        max_panel_width: width limit of each overlay panel, pixels.
        scene_view_size: (width, height) of the scene view, pixels.
        scene_samples: "all" samples or only the "mode" sample in the scene view.
        scene_show_gt: draw the GT in the scene view (when known).
        draw_bbox: draw the body box on the input panel.
        embed_image: store the image in the record file (else only its path).
        image: the full image if already loaded (default: `record.load_image()`).
        scene_camera: ``(intrinsics px, pv2cam (4, 4))`` for the scene view (see `render_scene_view`); default a
            virtual camera behind and above the wearer.

    Returns:
        The paths written.
    """
    stem = frame_stem(record.name) if stem is None else stem
    paths = frame_output_paths(out_dir, stem)
    paths.record.parent.mkdir(parents=True, exist_ok=True)
    full = record.load_image() if image is None else image
    save_frame_record(paths.record, record, embed_image=embed_image)
    write_png(paths.overlay, overlay_strip(record, full, backend, max_panel_width, draw_bbox))
    width, height = scene_view_size
    write_png(
        paths.scene_view,
        render_scene_view(record, width, height, scene_samples, scene_show_gt, backend, camera=scene_camera),
    )
    export_glb(record, paths.glb)
    logger.debug("wrote outputs of frame %s to %s", record.name, paths.record.parent)
    return paths
