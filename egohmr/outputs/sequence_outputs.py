"""The files of one `egohmr infer` run over a sequence, next to the per-frame outputs (docs/outputs.md):

- ``sequence_<run>.npz``: every frame's samples in the PV frame and in the scene frame (`save_sequence_results`),
  plus ``metadata_json`` (scene frame, checkpoints, their training domain, smoothing, notes) and the room for
  `egohmr view` (`room_arrays`);
- ``sequence_<run>.glb``: the whole sequence in the scene: the room mesh (or a subsample of the scene points) and each
  frame's mode body as a node ``frame_NNNN_<stem>``.

``<run>`` is ``<frames folder name>_runNN``, the first NN not yet used in the folder, so runs never overwrite each
other's sequence files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from egohmr.files import atomic_open, atomic_write_bytes
from egohmr.outputs.frame_record import frame_stem
from egohmr.outputs.palette import MODE_RGB, SCENE_RGB
from egohmr.outputs.scene_export import pv_to_gltf

__all__ = [
    "MAX_GLB_SCENE_POINTS",
    "SEQUENCE_PREFIX",
    "export_sequence_glb",
    "find_sequence_results",
    "load_sequence_metadata",
    "new_run_name",
    "room_arrays",
    "run_name_of",
    "save_sequence_results",
    "select_sequence_run",
    "subsample_points",
]

SEQUENCE_PREFIX = "sequence_"
MAX_GLB_SCENE_POINTS = 200_000
"""Scene points kept in the sequence .glb when the scene is a point cloud (a random subset beyond that)."""


def new_run_name(out_dir: str | os.PathLike[str], frames_name: str) -> str:
    """``<frames name>_runNN``: the first NN (from 1) whose sequence files do not exist in `out_dir`."""
    base = frame_stem(frames_name)
    k = 1
    while any((Path(out_dir) / f"{SEQUENCE_PREFIX}{base}_run{k:02d}{ext}").exists() for ext in (".npz", ".glb")):
        k += 1
    return f"{base}_run{k:02d}"


def save_sequence_results(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any]):
    """Write the arrays and ``metadata_json`` (JSON of `metadata`) to a compressed .npz, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays, metadata_json=np.array(json.dumps(dict(metadata), sort_keys=True)))
    return path


def load_sequence_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``metadata_json`` of a sequence results file."""
    with np.load(path, allow_pickle=False) as data:
        return json.loads(str(data["metadata_json"]))


def find_sequence_results(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Sequence results files in `out_dir`, sorted by name."""
    return sorted(Path(out_dir).glob(f"{SEQUENCE_PREFIX}*.npz"))


def run_name_of(path: str | os.PathLike[str]) -> str:
    """The run name of a sequence results file: ``sequence_<run>.npz`` -> ``<run>``."""
    return Path(path).stem.removeprefix(SEQUENCE_PREFIX)


def select_sequence_run(out_dir: str | os.PathLike[str], run: str | None = None) -> Path | None:
    """The sequence results file of run `run` in `out_dir`; `run` None: the newest file (modification time), or None
    when the folder holds none.

    Raises:
        ValueError: `run` is given and no such run exists (the message lists the runs of the folder).
    """
    paths = find_sequence_results(out_dir)
    if run is None:
        return max(paths, key=lambda p: (p.stat().st_mtime, p.name)) if paths else None
    for path in paths:
        if run_name_of(path) in (run, run.removeprefix(SEQUENCE_PREFIX).removesuffix(".npz")):
            return path
    runs = ", ".join(run_name_of(p) for p in paths) or "none"
    raise ValueError(f"--run {run!r}: no file {SEQUENCE_PREFIX}{run}.npz in {out_dir} (runs there: {runs})")


def subsample_points(points: np.ndarray, max_points: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """At most `max_points` of (P, 3) `points`: all of them, or a random subset drawn by `rng` (None: seed 0)."""
    points = np.asarray(points)
    if len(points) <= max_points:
        return points
    rng = rng if rng is not None else np.random.default_rng(0)
    return points[rng.choice(len(points), max_points, replace=False)]


def room_arrays(
    scene_mesh: tuple[np.ndarray, np.ndarray] | None, scene_points: np.ndarray | None
) -> dict[str, np.ndarray]:
    """The room as arrays of the sequence results file, for `egohmr view` (scene frame, metres).

    Args:
        scene_mesh: (vertices (M, 3), faces (G, 3)) of the room, or None.
        scene_points: (P, 3) scene points, used when there is no mesh.

    Returns:
        ``room_vertices_scene`` (M, 3) float32 and ``room_faces`` (G, 3) int32 for a mesh; else
        ``room_points_scene`` (at most `MAX_GLB_SCENE_POINTS`, the subset of the .glb) float32; {} without either.
    """
    if scene_mesh is not None:
        return {
            "room_vertices_scene": np.asarray(scene_mesh[0], np.float32),
            "room_faces": np.asarray(scene_mesh[1], np.int32),
        }
    if scene_points is not None and len(scene_points):
        return {"room_points_scene": subsample_points(scene_points, MAX_GLB_SCENE_POINTS).astype(np.float32)}
    return {}


def _mesh(vertices: np.ndarray, faces: np.ndarray, rgb: np.ndarray):
    import trimesh

    colors = np.concatenate([np.broadcast_to(np.asarray(rgb, np.uint8), (len(vertices), 3)),
                             np.full((len(vertices), 1), 255, np.uint8)], axis=1)  # fmt: skip
    return trimesh.Trimesh(np.asarray(vertices, np.float32), faces, vertex_colors=colors, process=False)


def export_sequence_glb(
    path: str | os.PathLike[str],
    frame_names: Sequence[str],
    mode_vertices_scene: np.ndarray,
    body_faces: np.ndarray,
    scene_frame: str,
    scene_mesh: tuple[np.ndarray, np.ndarray] | None = None,
    scene_points: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> Path:
    """Write the sequence .glb (module docstring), atomically.

    Args:
        path: destination. frame_names: N names (node ``frame_NNNN_<stem>``).
        mode_vertices_scene: (N, V, 3) mode body of each frame, metres, scene frame. body_faces: (F, 3).
        scene_frame: "scene" (y up: written as is, glTF is y-up) or "camera" (OpenCV axes: turned with `pv_to_gltf`).
        scene_mesh: (vertices (M, 3) scene frame, faces (G, 3)) of the room, or None.
        scene_points: (P, 3) scene frame, used when there is no mesh (subsampled to `MAX_GLB_SCENE_POINTS`).
        rng: draws the subsample; None: seed 0.
    """
    import trimesh

    to_gltf = pv_to_gltf if scene_frame == "camera" else (lambda x: np.asarray(x, np.float32))
    scene = trimesh.Scene()
    if scene_mesh is not None:
        room = _mesh(to_gltf(scene_mesh[0]), scene_mesh[1], SCENE_RGB)
        scene.add_geometry(room, node_name="scene_mesh", geom_name="scene_mesh")
    elif scene_points is not None and len(scene_points):
        pts = subsample_points(scene_points, MAX_GLB_SCENE_POINTS, rng)
        cloud = trimesh.PointCloud(to_gltf(pts), colors=np.broadcast_to(SCENE_RGB, pts.shape))
        scene.add_geometry(cloud, node_name="scene_points", geom_name="scene_points")
    for i, (name, verts) in enumerate(zip(frame_names, mode_vertices_scene, strict=True)):
        node = f"frame_{i:04d}_{frame_stem(name)}"
        scene.add_geometry(_mesh(to_gltf(verts), body_faces, MODE_RGB), node_name=node, geom_name=node)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, scene.export(file_type="glb"))
    return path
