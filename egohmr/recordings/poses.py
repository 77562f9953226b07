"""Camera poses of every frame -> ``world2pv``: scene (world) frame -> camera frame with OpenCV axes (x right,
y down, z forward), metres, acting on column vectors.

Accepted inputs (docs/infer.md):
    * JSON camera-to-scene poses: ``{"<frame>": 4x4, ...}``, a list of 4x4 in frame order, or
      ``{"axes": "opencv" | "opengl", "camera_to_scene": {...} or [...]}`` where ``"opengl"`` marks cameras looking
      down -z with y up (ARKit, HoloLens, Blender); ``world2pv = inverse(camera_to_scene)`` (axes converted);
    * .npy: an (N, 4, 4) array of camera-to-scene poses in frame order (OpenCV axes);
    * EgoBody's ``transf_matrices_all_seqs.pkl`` (HoloLens world -> PV per frame timestamp, the frame name's part
      before the first ``_``); with the recording's ``kinect12_to_world`` calibration JSON the scene is EgoBody's scene
      mesh (official chain, spec section 4), without it the scene is in the HoloLens world frame.
Every pose must be rigid (`check_rigid`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from egohmr.data import egobody_format as fmt
from egohmr.recordings.frames import Frame, lookup_frame

__all__ = ["OPENGL_TO_OPENCV", "RIGID_TOL", "check_rigid", "read_world2pv"]

RIGID_TOL = 1e-4
"""Tolerance of ``R R^T = I``, ``det R = 1`` and the last row ``0 0 0 1``."""
OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])
"""Camera axes y up / z backward (OpenGL) <-> y down / z forward (OpenCV): its own inverse."""
AXES = ("opencv", "opengl")


def check_rigid(T: Any, where: str) -> np.ndarray:
    """A (4, 4) rigid transform: finite, orthonormal rotation with determinant +1 and last row ``0 0 0 1``, all within
    `RIGID_TOL`.

    Returns:
        (4, 4) float64.

    Raises:
        ValueError: naming `where` and what is wrong.
    """
    try:
        M = np.asarray(T, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected a 4x4 matrix of numbers") from None
    if M.shape != (4, 4):
        raise ValueError(f"{where}: expected a 4x4 matrix, got shape {M.shape}")
    if not np.all(np.isfinite(M)):
        raise ValueError(f"{where}: matrix contains NaN or inf")
    R = M[:3, :3]
    ortho = float(np.abs(R @ R.T - np.eye(3)).max())
    det = float(np.linalg.det(R))
    if ortho > RIGID_TOL or abs(det - 1.0) > RIGID_TOL:
        raise ValueError(
            f"{where}: not a rigid pose: the rotation part has |R R^T - I| = {ortho:.2e} and det = {det:.6f} (need an "
            f"orthonormal rotation with det +1 within {RIGID_TOL:g}; is there a scale, a mirror or a projection in it?)"
        )
    if float(np.abs(M[3] - [0, 0, 0, 1]).max()) > RIGID_TOL:
        raise ValueError(f"{where}: the last row must be 0 0 0 1, got {M[3].tolist()}")
    return M


def _camera_to_scene_list(entries: Any, frames: Sequence[Frame], where: str) -> list[Any]:
    """Per-frame raw matrices from a {frame: 4x4} mapping or a list in frame order."""
    if isinstance(entries, Mapping):
        out = []
        for frame in frames:
            matrix = lookup_frame(entries, frame)
            if matrix is None:
                raise ValueError(f"{where}: no pose for frame {frame.name!r}")
            out.append(matrix)
        return out
    if isinstance(entries, Sequence) and not isinstance(entries, str):
        if len(entries) != len(frames):
            raise ValueError(f"{where}: {len(entries)} poses for {len(frames)} frames (a list must have one per frame)")
        return list(entries)
    raise ValueError(f"{where}: expected {{frame: 4x4}} or a list of 4x4 camera-to-scene poses")


def _invert(camera_to_scene: list[Any], frames: Sequence[Frame], axes: str, where: str) -> list[np.ndarray]:
    out = []
    for frame, matrix in zip(frames, camera_to_scene, strict=True):
        cam2scene = check_rigid(matrix, f"{where} (frame {frame.name!r})")
        if axes == "opengl":
            cam2scene = cam2scene @ OPENGL_TO_OPENCV
        out.append(fmt.invert_rigid_np(cam2scene))
    return out


def _from_json(path: Path, frames: Sequence[Frame]) -> list[np.ndarray]:
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"poses: {path} is not valid JSON ({err})") from None
    where = f"poses: {path}"
    axes = "opencv"
    if isinstance(data, Mapping) and "camera_to_scene" in data:
        axes = data.get("axes", "opencv")
        if axes not in AXES:
            raise ValueError(f"{where}: field 'axes' must be one of {list(AXES)}, got {axes!r}")
        data = data["camera_to_scene"]
    return _invert(_camera_to_scene_list(data, frames, where), frames, axes, where)


def _from_egobody(
    path: Path, frames: Sequence[Frame], recording: str | None, kinect2scene: str | Path | None
) -> list[np.ndarray]:
    table = fmt.read_transf_matrices(path)
    if recording is None:
        if len(table) != 1:
            raise ValueError(f"poses: {path} holds {len(table)} recordings; name one (recording=...)")
        recording = next(iter(table))
    if recording not in table:
        raise ValueError(f"poses: {path} has no recording {recording!r} (it has {sorted(table)[:5]}...)")
    entry = table[recording]
    k2s = None if kinect2scene is None else fmt.read_kinect2scene(kinect2scene)
    out = []
    for frame in frames:
        timestamp = frame.name.split("_")[0]
        if timestamp not in entry.world2pv:
            raise ValueError(
                f"poses: {path}: recording {recording!r} has no pose for timestamp {timestamp} (frame {frame.name!r})"
            )
        w2p = check_rigid(entry.world2pv[timestamp], f"poses: {path}: {recording}/{timestamp}")
        out.append(fmt.scene2pv(k2s, entry.kinect2holo, w2p) if k2s is not None else fmt.ADD_TRANS @ w2p)
    return out


def read_world2pv(
    source: str | Path | Sequence[Any] | Mapping[str, Any],
    frames: Sequence[Frame],
    recording: str | None = None,
    kinect2scene: str | Path | None = None,
) -> list[np.ndarray]:
    """``world2pv`` of every frame (module docstring).

    Args:
        source: a .json, .npy or EgoBody .pkl file; or in memory, camera-to-scene poses (OpenCV axes) as
            {frame: 4x4} or a list in frame order.
        frames: the recording's frames.
        recording: EgoBody recording name in the .pkl (needed when it holds several).
        kinect2scene: EgoBody ``calibrations/<recording>/cal_trans/kinect12_to_world/<scene>.json`` for the .pkl.

    Returns:
        [(4, 4) float64 scene -> camera (OpenCV axes)] in frame order.

    Raises:
        FileNotFoundError: missing file. ValueError: a missing frame, a wrong count, a non-rigid pose (naming the
            file and frame), or an unknown file type.
    """
    if not isinstance(source, str | Path):
        return _invert(_camera_to_scene_list(source, frames, "poses"), frames, "opencv", "poses")
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"poses: {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _from_json(path, frames)
    if suffix == ".npy":
        where = f"poses: {path}"
        matrices = _camera_to_scene_list(list(np.load(path, allow_pickle=False)), frames, where)
        return _invert(matrices, frames, "opencv", where)
    if suffix == ".pkl":
        return _from_egobody(path, frames, recording, kinect2scene)
    raise ValueError(f"poses: {path}: unsupported file type {suffix!r} (use .json, .npy or EgoBody's .pkl)")
