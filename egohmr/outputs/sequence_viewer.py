"""`egohmr view` of a whole `egohmr infer` run: the room, the bodies over time, seen through the wearer's PV camera.

`SequenceViewer(server, results_path)` reads a sequence results file (``sequence_<run>.npz``,
`egohmr.outputs.sequence_outputs`) and shows, in the scene frame (y up, metres): the room once (``room_*`` arrays:
mesh, or points), a faint line through the mode sample's translations, and the current frame's samples (mode solid,
others translucent, palette of `egohmr.outputs.palette`) and PV camera marker. GUI: a frame slider, a "play" checkbox
and an "fps" number (a background thread started by `start` calls `step` while playing), a "view from PV camera"
button, toggles and a text panel. Every browser that connects starts looking through the current frame's PV camera.

Axes: a run with poses is in the scene frame, y up, shown as is. Without poses (``scene_frame`` "camera") the scene
is every frame's camera frame (OpenCV axes) and is turned like the .glb files (`pv_to_gltf`).

Beyond what `egohmr.outputs.viewer` uses, only these parts of a viser ``ViserServer`` are used:
``server.on_client_connect(callback)``, ``server.get_clients()`` ({id: client}), ``client.atomic()``,
``client.camera.position`` / ``.look_at`` / ``.up_direction`` / ``.fov`` / ``.near``,
``server.scene.add_line_segments``, ``server.gui.add_number`` and ``server.gui.add_button`` (handle ``.on_click``).
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from egohmr.geometry.frames import apply_transform
from egohmr.outputs.palette import SCENE_RGB
from egohmr.outputs.scene_export import PV_TO_GLTF, sample_node_name
from egohmr.outputs.sequence_outputs import run_name_of
from egohmr.outputs.viewer import add_camera_marker, add_samples, add_toggles, rgb_tuple
from egohmr.safe_load import refuse_npz_objects

__all__ = ["SequenceScene", "SequenceViewer", "load_sequence_scene", "pv_camera_pose"]

ROOT = "/frame"
ROOM_ROOT = "/room"
DEFAULT_FPS = 10.0
MAX_FPS = 60.0
CAMERA_NEAR = 0.15
"""Near plane (metres) set with the PV camera view: clips the marker of the camera the view is taken from (0.12 m)."""
TRAJECTORY_RGB = (120, 120, 120)
REQUIRED_FIELDS = ("frame_names", "pv2scene", "intrinsics", "vertices_scene", "transl_scene", "faces", "metadata_json")


@dataclass(frozen=True)
class SequenceScene:
    """A sequence results file in the viewer's axes ("view": the scene frame, turned when it is the camera frame).

    Attributes:
        run: run name (``sequence_<run>.npz``).
        frame_names: (N,) str.
        pv2view: (N, 4, 4) float64 PV -> view transform of each frame.
        intrinsics: (N, 4) float64 (fx, fy, cx, cy) px.
        vertices_view: (N, S, V, 3) float32 metres, mode sample first. faces: (F, 3) body faces.
        mode_transl_view: (N, 3) float32 metres, the mode sample's translation.
        room_vertices_view, room_faces: (M, 3) float32 / (G, 3) the room mesh, or None.
        room_points_view: (P, 3) float32 scene points when the room is a point cloud, or None.
        metadata: the file's ``metadata_json``.
    """

    run: str
    frame_names: np.ndarray
    pv2view: np.ndarray
    intrinsics: np.ndarray
    vertices_view: np.ndarray
    faces: np.ndarray
    mode_transl_view: np.ndarray
    room_vertices_view: np.ndarray | None
    room_faces: np.ndarray | None
    room_points_view: np.ndarray | None
    metadata: dict[str, Any]

    @property
    def num_frames(self) -> int:
        return len(self.frame_names)


def load_sequence_scene(path: str | os.PathLike[str]) -> SequenceScene:
    """Read a sequence results file (`egohmr.outputs.sequence_outputs`) into the viewer's axes.

    Raises:
        ValueError: a field the viewer needs is missing (the message names the file and the field).
    """
    path = Path(path)
    refuse_npz_objects(path, "sequence results file")
    with np.load(path, allow_pickle=False) as data:
        for key in REQUIRED_FIELDS:
            if key not in data:
                raise ValueError(f"{path}: not a sequence results file of egohmr infer (no field {key!r})")
        metadata = json.loads(str(data["metadata_json"]))
        turn = PV_TO_GLTF if metadata.get("scene_frame") == "camera" else np.eye(3)
        scene2view = np.eye(4)
        scene2view[:3, :3] = turn

        def to_view(key: str) -> np.ndarray | None:  # float32: a long run's vertices_scene is large
            if key not in data:
                return None
            return np.asarray(data[key], np.float32) @ turn.T.astype(np.float32)

        return SequenceScene(
            run=run_name_of(path),
            frame_names=np.asarray(data["frame_names"]),
            pv2view=scene2view @ np.asarray(data["pv2scene"], np.float64),
            intrinsics=np.asarray(data["intrinsics"], np.float64),
            vertices_view=to_view("vertices_scene"),
            faces=np.asarray(data["faces"]),
            mode_transl_view=to_view("transl_scene")[:, 0],
            room_vertices_view=to_view("room_vertices_scene"),
            room_faces=np.asarray(data["room_faces"]) if "room_faces" in data else None,
            room_points_view=to_view("room_points_scene"),
            metadata=metadata,
        )


def pv_camera_pose(pv2view: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A viewer camera looking through a PV camera (OpenCV axes: x right, y down, z forward).

    Args:
        pv2view: (4, 4) PV -> view transform.

    Returns:
        (position (3,): the camera centre, look_at (3,): 1 m along the PV +z axis, up (3,): the PV -y axis), view axes.
    """
    rotation, position = pv2view[:3, :3], pv2view[:3, 3]
    return position.copy(), position + rotation[:, 2], -rotation[:, 1]


def vertical_fov_rad(intrinsics: np.ndarray) -> float:
    """Vertical field of view (radians) of a PV camera with (fx, fy, cx, cy) px, taking the image height as 2 cy."""
    _fx, fy, _cx, cy = (float(v) for v in intrinsics)
    return 2.0 * math.atan2(cy, fy)


class SequenceViewer:
    """The room, a frame slider that plays, and the current frame's bodies and PV camera (module docstring).

    Args:
        server: a viser ``ViserServer`` (or an object with the same parts, module docstring).
        results_path: a ``sequence_<run>.npz`` written by `egohmr infer --frames`.
        point_size: room point size, metres (point-cloud rooms).
    """

    def __init__(self, server: Any, results_path: str | os.PathLike[str], point_size: float = 0.015) -> None:
        self.server = server
        self.seq = load_sequence_scene(results_path)
        self.index = -1
        self.handles: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        server.scene.set_up_direction("+y")
        self.room = self._add_room(point_size)
        gui = server.gui
        n = self.seq.num_frames
        self.slider = self.play = self.fps = None
        if n > 1:
            self.slider = gui.add_slider("frame", min=0, max=n - 1, step=1, initial_value=0)
            self.slider.on_update(lambda _event: self.show(int(self.slider.value)))
            self.play = gui.add_checkbox("play", False)
            self.fps = gui.add_number("fps", initial_value=DEFAULT_FPS, min=1.0, max=MAX_FPS, step=1.0)
        gui.add_button("view from PV camera").on_click(lambda _event: self.look_through_pv_camera_all())
        labels = {
            "room": "room",
            "trajectory": "trajectory",
            "camera": "PV camera",
            "mode": "mode sample",
            "others": "other samples",
        }
        self.toggles = add_toggles(gui, labels, self.apply_visibility)
        self.info = gui.add_markdown("")
        self.show(0)
        server.on_client_connect(self.look_through_pv_camera)

    def _add_room(self, point_size: float) -> dict[str, Any]:
        """Add the room and the mode trajectory once; returns {name: handle}."""
        seq, scene, handles = self.seq, self.server.scene, {}
        if seq.room_vertices_view is not None and seq.room_faces is not None:
            handles["room"] = scene.add_mesh_simple(
                f"{ROOM_ROOT}/mesh", seq.room_vertices_view, seq.room_faces, color=rgb_tuple(SCENE_RGB), side="double"
            )
        elif seq.room_points_view is not None:
            colors = np.broadcast_to(SCENE_RGB, seq.room_points_view.shape).copy()
            handles["room"] = scene.add_point_cloud(
                f"{ROOM_ROOT}/points", seq.room_points_view, colors, point_size=point_size
            )
        if seq.num_frames > 1:
            segments = np.stack([seq.mode_transl_view[:-1], seq.mode_transl_view[1:]], axis=1)  # (N - 1, 2, 3)
            handles["trajectory"] = scene.add_line_segments(f"{ROOM_ROOT}/trajectory", segments, TRAJECTORY_RGB)
        return handles

    def _group(self, name: str) -> str:
        if name == "pv_camera":
            return "camera"
        return "mode" if name == sample_node_name(0) else "others"

    def apply_visibility(self) -> None:
        """Show / hide the room, the trajectory and the current frame's nodes according to the toggles."""
        for name, handle in self.room.items():
            handle.visible = bool(self.toggles[name].value)
        for name, handle in self.handles.items():
            handle.visible = bool(self.toggles[self._group(name)].value)

    def show(self, index: int) -> None:
        """Replace the current frame's bodies and camera marker by those of frame `index` (clamped)."""
        seq = self.seq
        index = min(max(int(index), 0), seq.num_frames - 1)
        with self._lock:
            if index == self.index:
                return
            for handle in self.handles.values():
                handle.remove()
            pv2view = seq.pv2view[index]
            scene = self.server.scene
            marker = add_camera_marker(scene, f"{ROOT}/pv_camera", lambda points: apply_transform(pv2view, points))
            self.handles = {"pv_camera": marker}
            self.handles.update(add_samples(scene, ROOT, seq.vertices_view[index], seq.faces))
            self.index = index
            self.apply_visibility()
            self.info.content = self.markdown()

    def markdown(self) -> str:
        """The text panel of the current frame: run, frame, samples, scene frame, room, colours."""
        seq, meta = self.seq, self.seq.metadata
        room = "mesh" if seq.room_faces is not None else "points" if seq.room_points_view is not None else None
        lines = [
            f"**Run `{seq.run}`, frame {self.index + 1} / {seq.num_frames}**: `{seq.frame_names[self.index]}`",
            "",
            f"{seq.vertices_view.shape[1]} sample(s) per frame; scene frame: {meta.get('scene_frame', '?')}"
            + ("; mode translation smoothed" if meta.get("smoothed") else ""),
            "",
            f"Room: {room}" if room else "Room: not in this results file (written by an older egohmr infer)",
            "",
            "Colours: mode sample red, other samples blue-ish, PV camera yellow, trajectory grey.",
        ]
        return "\n".join(lines)

    def step(self) -> None:
        """Advance to the next frame, after the last back to the first (what playing does at every tick)."""
        following = (self.index + 1) % self.seq.num_frames
        if self.slider is not None:
            self.slider.value = following  # the browser's slider follows
        self.show(following)

    def look_through_pv_camera(self, client: Any) -> None:
        """Set `client`'s camera to the current frame's PV camera (pose and vertical field of view)."""
        position, look_at, up = pv_camera_pose(self.seq.pv2view[self.index])
        with client.atomic():
            client.camera.position = position  # first: viser moves the look-at point with the position
            client.camera.look_at = look_at
            client.camera.up_direction = up
            client.camera.fov = vertical_fov_rad(self.seq.intrinsics[self.index])
            client.camera.near = CAMERA_NEAR

    def look_through_pv_camera_all(self) -> None:
        """`look_through_pv_camera` for every connected browser."""
        for client in list(self.server.get_clients().values()):
            self.look_through_pv_camera(client)

    def _play_loop(self) -> None:
        while not self._stop.wait(1.0 / min(max(float(self.fps.value), 1.0), MAX_FPS)):
            if self.play.value:
                self.step()

    def start(self) -> None:
        """Start the player thread (nothing to play with one frame); `close` stops it."""
        if self.play is not None and self._thread is None:
            self._thread = threading.Thread(target=self._play_loop, name="egohmr-view-player", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the player thread and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
