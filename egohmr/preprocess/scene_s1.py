"""Stage-1 scene preprocessing: scene-mesh vertices in front of the egocentric camera, 20,000 per saved frame.

Official behaviour (reference-egohmr.md section 4, ``preprocess_scene_s1.py``): walk the frames of a split in npz order;
at every 15th frame, and whenever the scene changes, transform the scene mesh vertices to that frame's PV camera, keep
those with ``z > 0``, uniform-down-sample to 20,000 (every ``floor(n / 20000)``-th vertex, first 20,000) and store them
in the recording's master-Kinect frame; every frame maps to the most recent saved frame.

Differences: a new saved frame also starts at every recording change (the points are stored in the master-Kinect
frame of their own recording, so reusing them for another recording of the same scene would put them in the wrong
frame); keys are the last five ``imgname`` components (``scene_points.s1_key``) instead of ``split('/')[4:]`` of an
absolute path; the replacement draws (``--allow-replacement``) of a frame come from its ``scene-s1`` stream
(`egohmr.preprocess.sampling`), keyed by the image file stem as in ``egohmr infer``; the work is parallel and
resumable (one part file per saved frame under ``.parts_s1_<split>``, merged into the two pickles at the end) for the
same inputs and parameters only (``egohmr.jobs`` manifest).
"""

from __future__ import annotations

import logging
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from egohmr.data import egobody_format as ebf
from egohmr.data.scene_points import (
    S1_MAP_FILE,
    S1_PCD_FILE,
    kinect2pv_per_frame,
    read_obj_vertices,
    s1_key,
    scene2kinect_per_recording,
)
from egohmr.files import atomic_save_npy, atomic_write_bytes
from egohmr.geometry.frames import apply_transform
from egohmr.jobs import JobManifest, job_output_dir
from egohmr.preprocess.inputs import scene_input_digests
from egohmr.preprocess.pool import run_tasks
from egohmr.preprocess.sampling import RANDOM_STREAMS, SCENE_S1, frame_key, frame_rng, front_downsample

__all__ = ["SceneS1Options", "SceneS1Result", "crop_front_points", "plan_s1", "run_scene_s1"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SceneS1Options:
    """Options of ``run_scene_s1``."""

    root: str
    """EgoBody root."""
    split: str
    """train / val / test."""
    out_dir: str
    """Folder for pcd_verts_dict_<split>.pkl and map_dict_<split>.pkl."""
    num_points: int = 20000
    """Points per saved frame."""
    every: int = 15
    """Save every n-th frame (and at recording changes)."""
    num_workers: int = 0
    """Processes (0: in this process)."""
    seed: int = 0
    """Seed of the (optional) replacement sampling."""
    allow_replacement: bool = False
    """Sample with replacement when fewer than num_points vertices are in front of the camera."""
    overwrite: bool = False
    """Recompute even if the outputs exist."""
    keep_parts: bool = False
    """Keep the per-frame part files after merging."""
    chunk_size: int = 16
    """Saved frames per task."""


@dataclass(frozen=True)
class SceneS1Result:
    """Outcome of ``run_scene_s1``: output paths, frames of the split, saved frames, frames computed now."""

    pcd_path: Path
    map_path: Path
    num_frames: int
    num_saved: int
    num_computed: int


def plan_s1(imgnames: list[str], every: int) -> np.ndarray:
    """For each frame, the row of the saved frame whose points it uses.

    Args:
        imgnames: N npz ``imgname`` values, in npz order.
        every: save every ``every``-th frame; a recording change also starts a new saved frame.

    Returns:
        (N,) int64; ``source[i] == i`` marks a saved frame.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    source = np.empty(len(imgnames), dtype=np.int64)
    last_rec, current = None, -1
    for i, name in enumerate(imgnames):
        rec = ebf.parse_imgname(name).recording
        if i % every == 0 or rec != last_rec:
            current = i
        source[i] = current
        last_rec = rec
    return source


def crop_front_points(
    verts_scene: np.ndarray,
    scene2pv: np.ndarray,
    scene2kinect: np.ndarray,
    num_points: int,
    where: str,
    allow_replacement: bool = False,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Scene vertices in front of the PV camera, down-sampled, in the master-Kinect frame.

    Args:
        verts_scene: (V, 3) float64 scene-mesh vertices (file order), scene frame.
        scene2pv: (4, 4) scene -> PV (OpenCV) transform of the frame.
        scene2kinect: (4, 4) scene -> master Kinect transform of the recording.
        num_points: output count.
        where: frame named in errors.
        allow_replacement, rng: see `egohmr.preprocess.sampling.uniform_downsample`.

    Returns:
        (num_points, 3) float64, master-Kinect frame.
    """
    z = verts_scene @ scene2pv[2, :3] + scene2pv[2, 3]  # (V,) depth in the PV camera
    chosen = front_downsample(verts_scene, z, num_points, where, allow_replacement, rng)
    return apply_transform(scene2kinect, chosen)


_MESH_CACHE: dict[str, np.ndarray] = {}


def _scene_vertices(path: str) -> np.ndarray:
    if path not in _MESH_CACHE:
        if len(_MESH_CACHE) >= 2:
            _MESH_CACHE.clear()
        _MESH_CACHE[path] = read_obj_vertices(path)
    return _MESH_CACHE[path]


def _s1_task(task: tuple) -> int:
    mesh_path, frames, num_points, seed, allow_replacement = task
    verts = _scene_vertices(mesh_path)
    for key, scene2pv, scene2kinect, part in frames:
        rng = frame_rng(seed, frame_key(key), SCENE_S1)
        pts = crop_front_points(verts, scene2pv, scene2kinect, num_points, f"frame {key}", allow_replacement, rng)
        atomic_save_npy(part, pts)
    return len(frames)


def run_scene_s1(options: SceneS1Options, progress: bool = True) -> SceneS1Result:
    """Write ``pcd_verts_dict_<split>.pkl`` and ``map_dict_<split>.pkl`` (official formats) for one split.

    The output folder stores the job manifest ``.egohmr-job.scene-s1-<split>.json`` (`s1_manifest`; `egohmr.jobs`).

    Returns:
        SceneS1Result. If both outputs exist for the same manifest and ``overwrite`` is False nothing is recomputed.

    Raises:
        egohmr.jobs.StaleOutputError: the folder holds outputs of other inputs or parameters (or of another program)
            and ``overwrite`` is False. egohmr.jobs.FolderLockedError: another job is writing the folder.
        FileNotFoundError / ValueError: missing inputs, unknown recordings, too few points (naming the frame).
    """
    opt = options
    out_dir = Path(opt.out_dir)
    pcd_path = out_dir / S1_PCD_FILE.format(split=opt.split)
    map_path = out_dir / S1_MAP_FILE.format(split=opt.split)
    imgnames = [str(v) for v in ebf.read_annotation_npz(ebf.annotation_path(opt.root, opt.split))["imgname"]]
    source = plan_s1(imgnames, opt.every)
    saved_rows = np.flatnonzero(source == np.arange(len(imgnames)))
    parts_dir = out_dir / f".parts_s1_{opt.split}"
    with job_output_dir(
        out_dir, s1_manifest(opt, imgnames), opt.overwrite, [pcd_path, map_path, parts_dir], f"scene-s1-{opt.split}"
    ) as reuse:
        if reuse and pcd_path.is_file() and map_path.is_file():
            logger.info("stage-1 scene points exist, skipping: %s", pcd_path)
            return SceneS1Result(pcd_path, map_path, len(imgnames), len(saved_rows), 0)
        computed = _compute_s1(opt, imgnames, source, saved_rows, parts_dir, progress)
        pcd = {s1_key(imgnames[r]): np.load(parts_dir / f"{r:08d}.npy") for r in saved_rows}
        mapping = {s1_key(name): s1_key(imgnames[src]) for name, src in zip(imgnames, source, strict=True)}
        atomic_write_bytes(map_path, pickle.dumps(mapping, protocol=4))
        atomic_write_bytes(pcd_path, pickle.dumps(pcd, protocol=4))
        if not opt.keep_parts:
            shutil.rmtree(parts_dir, ignore_errors=True)
    return SceneS1Result(pcd_path, map_path, len(imgnames), len(saved_rows), computed)


def s1_manifest(opt: SceneS1Options, imgnames: list[str]) -> JobManifest:
    """The job manifest of a stage-1 preprocessing run: its sampling parameters and input digests."""
    params = {
        "split": opt.split,
        "num_points": opt.num_points,
        "every": opt.every,
        "seed": opt.seed,
        "allow_replacement": opt.allow_replacement,
        "random_streams": RANDOM_STREAMS,
    }
    recordings = [ebf.parse_imgname(n).recording for n in imgnames]
    return JobManifest("scene-s1", params, scene_input_digests(opt.root, opt.split, recordings))


def _compute_s1(
    opt: SceneS1Options,
    imgnames: list[str],
    source: np.ndarray,
    saved_rows: np.ndarray,
    parts_dir: Path,
    progress: bool,
) -> int:
    """Write the missing part files of the saved frames; returns how many were computed."""
    saved_names = [imgnames[r] for r in saved_rows]
    kinect2pv = kinect2pv_per_frame(opt.root, saved_names)
    recs = [ebf.parse_imgname(n).recording for n in saved_names]
    scenes, scene2kinect = scene2kinect_per_recording(opt.root, recs)

    by_scene: dict[str, list] = {}
    for j, row in enumerate(saved_rows):
        part = parts_dir / f"{row:08d}.npy"
        if part.is_file():
            continue
        rec = recs[j]
        mesh = str(ebf.scene_mesh_path(opt.root, scenes[rec]))
        item = (s1_key(imgnames[row]), kinect2pv[j] @ scene2kinect[rec], scene2kinect[rec], part)
        by_scene.setdefault(mesh, []).append(item)
    tasks = []
    for mesh, items in by_scene.items():
        for k in range(0, len(items), opt.chunk_size):
            tasks.append((mesh, items[k : k + opt.chunk_size], opt.num_points, opt.seed, opt.allow_replacement))
    todo = sum(len(t[1]) for t in tasks)
    return run_tasks(_s1_task, tasks, opt.num_workers, todo, f"scene-s1 {opt.split}", progress)
