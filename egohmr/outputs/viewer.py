"""Scene building for the interactive browser viewer (`egohmr view`), written against a viser-like server object.

`FrameViewer(server, record_paths)` adds GUI controls (frame slider, toggles for scene / GT / samples, a text panel)
and shows one frame at a time: the scene crop (points, or the mesh when the record has one), the PV camera marker,
the GT body and every sample, with the palette of `egohmr.outputs.palette`. Coordinates are the glTF y-up axes of
`egohmr.outputs.scene_export` (PV ``(x, y, z)`` -> ``(x, -y, -z)``).

Only these parts of a viser ``ViserServer`` are used, so tests can pass a small fake:
``server.scene.set_up_direction``, ``server.scene.add_point_cloud``, ``server.scene.add_mesh_simple``,
``server.gui.add_slider``, ``server.gui.add_checkbox``, ``server.gui.add_markdown``; handles with ``.visible``,
``.remove()``, ``.value``, ``.content`` and ``.on_update(callback)``.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from egohmr.outputs.frame_record import FrameRecord, load_frame_record
from egohmr.outputs.palette import CAMERA_RGB, GT_RGB, SCENE_RGB, sample_rgb
from egohmr.outputs.scene_export import pv_to_gltf, sample_node_name
from egohmr.outputs.scene_view import camera_marker_pv

__all__ = [
    "FrameViewer",
    "add_camera_marker",
    "add_frame_to_scene",
    "add_samples",
    "add_toggles",
    "frame_markdown",
    "rgb_tuple",
]

ROOT = "/frame"
SAMPLE_OPACITY = 0.6


def rgb_tuple(color: np.ndarray) -> tuple[int, int, int]:
    """(3,) uint8 palette colour -> (r, g, b) ints, as viser takes them."""
    r, g, b = (int(c) for c in color)
    return r, g, b


def add_frame_to_scene(scene: Any, record: FrameRecord, root: str = ROOT, point_size: float = 0.015) -> dict[str, Any]:
    """Add one frame's geometry to a viser-like ``server.scene``.

    Args:
        scene: object with ``add_point_cloud(name, points, colors, point_size=...)`` and
            ``add_mesh_simple(name, vertices, faces, color=..., opacity=...)``.
        record: the frame.
        root: scene-tree prefix of the node names.
        point_size: scene point size, metres.

    Returns:
        {node name without prefix: handle}: ``scene_points`` or ``scene_mesh``, ``pv_camera``, ``gt_body`` (when
        known), ``sample_00_mode``, ``sample_01``, ...
    """
    handles: dict[str, Any] = {}
    if record.scene_mesh_vertices_pv is not None:
        handles["scene_mesh"] = scene.add_mesh_simple(
            f"{root}/scene_mesh",
            pv_to_gltf(record.scene_mesh_vertices_pv),
            record.scene_mesh_faces,
            color=rgb_tuple(SCENE_RGB),
            side="double",
        )
    elif len(record.scene_points_pv):
        colors = (
            record.scene_colors
            if record.scene_colors is not None
            else np.broadcast_to(SCENE_RGB, record.scene_points_pv.shape).copy()
        )
        handles["scene_points"] = scene.add_point_cloud(
            f"{root}/scene_points", pv_to_gltf(record.scene_points_pv), colors, point_size=point_size
        )
    handles["pv_camera"] = add_camera_marker(scene, f"{root}/pv_camera", pv_to_gltf)
    if record.gt_vertices_pv is not None:
        handles["gt_body"] = scene.add_mesh_simple(
            f"{root}/gt_body", pv_to_gltf(record.gt_vertices_pv), record.faces, color=rgb_tuple(GT_RGB), side="double"
        )
    handles.update(add_samples(scene, root, pv_to_gltf(record.pred_vertices_pv), record.faces))
    return handles


def add_camera_marker(scene: Any, name: str, pv_to_view: Callable[[np.ndarray], np.ndarray]) -> Any:
    """Add the PV camera marker (`camera_marker_pv`, yellow) as node `name`; `pv_to_view` maps (K, 3) PV-frame points
    to the viewer's axes. Returns its handle."""
    cam_v, cam_f = camera_marker_pv()
    return scene.add_mesh_simple(name, pv_to_view(cam_v), cam_f, color=rgb_tuple(CAMERA_RGB), side="double")


def add_samples(scene: Any, root: str, vertices_view: np.ndarray, faces: np.ndarray) -> dict[str, Any]:
    """Add the body samples as nodes ``{root}/sample_00_mode`` (solid), ``{root}/sample_01``, ... (translucent), in
    the palette's colours.

    Args:
        scene: viser-like ``server.scene``. root: scene-tree prefix.
        vertices_view: (S, V, 3) vertices in the viewer's axes, mode sample first. faces: (F, 3).

    Returns:
        {node name without prefix: handle}.
    """
    handles = {}
    for i, verts in enumerate(vertices_view):
        name = sample_node_name(i)
        handles[name] = scene.add_mesh_simple(
            f"{root}/{name}",
            verts,
            faces,
            color=rgb_tuple(sample_rgb(i)),
            opacity=None if i == 0 else SAMPLE_OPACITY,
            side="double",
        )
    return handles


def add_toggles(gui: Any, labels: dict[str, str], on_change: Any) -> dict[str, Any]:
    """One checkbox per group ({group: label}), all on; any change calls ``on_change()``. Returns {group: handle}."""
    toggles = {group: gui.add_checkbox(label, True) for group, label in labels.items()}
    for toggle in toggles.values():
        toggle.on_update(lambda _event: on_change())
    return toggles


def frame_markdown(record: FrameRecord, index: int, count: int) -> str:
    """The text panel of a frame: name, sample count, GT, per-frame metrics."""
    lines = [
        f"**Frame {index + 1} / {count}**: `{record.name}`",
        "",
        f"{record.num_samples} sample(s); ground truth: {'yes' if record.gt_vertices_pv is not None else 'no'}",
    ]
    if record.metrics:
        lines += ["", "| metric | value |", "|---|---:|"]
        for key, value in record.metrics.items():
            lines.append(f"| {key} | {value:.2f} |" if math.isfinite(value) else f"| {key} | - |")
    lines += ["", "Colours: GT green, mode sample red, other samples blue-ish."]
    return "\n".join(lines)


class FrameViewer:
    """Frame slider + toggles over a list of frame records, showing one frame at a time.

    Args:
        server: a viser ``ViserServer`` (or an object with the same ``scene`` / ``gui`` methods).
        record_paths: frame record files (``OUT/frames/*.npz``), in display order.
        point_size: scene point size, metres.

    Raises:
        ValueError: `record_paths` is empty.
    """

    def __init__(self, server: Any, record_paths: Sequence[str | os.PathLike[str]], point_size: float = 0.015) -> None:
        if not record_paths:
            raise ValueError("FrameViewer needs at least one frame record")
        self.server = server
        self.paths = [Path(p) for p in record_paths]
        self.point_size = point_size
        self.index = -1
        self.handles: dict[str, Any] = {}
        self._lock = threading.Lock()
        server.scene.set_up_direction("+y")
        gui = server.gui
        self.slider = None
        if len(self.paths) > 1:
            self.slider = gui.add_slider("frame", min=0, max=len(self.paths) - 1, step=1, initial_value=0)
            self.slider.on_update(lambda _event: self.show(int(self.slider.value)))
        labels = {"scene": "scene", "gt": "ground truth", "mode": "mode sample", "others": "other samples"}
        self.toggles = add_toggles(gui, labels, self.apply_visibility)
        self.info = gui.add_markdown("")
        self.show(0)

    def _group(self, name: str) -> str:
        if name in ("scene_points", "scene_mesh", "pv_camera"):
            return "scene"
        if name == "gt_body":
            return "gt"
        return "mode" if name == sample_node_name(0) else "others"

    def apply_visibility(self) -> None:
        """Show / hide the current frame's nodes according to the toggles."""
        for name, handle in self.handles.items():
            handle.visible = bool(self.toggles[self._group(name)].value)

    def show(self, index: int) -> None:
        """Replace the displayed frame by frame `index` (clamped to the valid range)."""
        index = min(max(int(index), 0), len(self.paths) - 1)
        with self._lock:
            if index == self.index:
                return
            record = load_frame_record(self.paths[index])
            for handle in self.handles.values():
                handle.remove()
            self.handles = add_frame_to_scene(self.server.scene, record, point_size=self.point_size)
            self.index = index
            self.apply_visibility()
            self.info.content = frame_markdown(record, index, len(self.paths))
