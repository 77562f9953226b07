"""Stage-2 scene preprocessing: a 2x2 m scene cube around the body, 20,000 points per frame.

Official behaviour (reference-egohmr.md section 4, ``preprocess_scene_s2_for_{train,test}.py``), in scene-mesh
coordinates (y up):

* centre ``c``: the mean of the GT body vertices (train/val; gendered body from the npz SMPL parameters in the PV frame,
  mapped to the scene) or the stage-1 translation ``pred_cam_full_list`` mapped to the scene (test);
* yaw ``theta ~ U[0, 2 pi)`` about ``c`` (the square's orientation); train also shifts the square in the rotated
  xz-plane by ``s ~ U[max(-cube/4, max_body - cube/2), min(cube/4, cube/2 + min_body)]`` per axis (body coordinates
  relative to ``c`` after the yaw), which keeps the body inside;
* keep vertices with ``|x_r - s_x| <= cube/2`` and ``|z_r - s_z| <= cube/2`` (rotated coordinates), then
  ``y <= min(y) + cube``; fail if fewer than 20,000; uniform down-sample to 20,000; save the selected vertices in
  scene coordinates (the official "rotate back" returns them to their original coordinates) as
  ``<out_root>/<split>/<recording>/<holo_time>/<timestamp>_frame_XXXXX.npy``, (20000, 3) float64.

Ours is reproducible and resumable: the draws of a frame come from its ``scene-s2`` stream ``frame_rng(seed, image
file stem, "scene-s2")`` (`egohmr.preprocess.sampling`; ``egohmr infer`` crops its cube from the same stream);
vertices far from the centre are discarded before the rotation (same result, less work); finished cubes are reused
only for the same inputs and parameters (``egohmr.jobs`` manifest of the split folder).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from egohmr.data import egobody_format as ebf
from egohmr.data.dataset import load_stage1_translations
from egohmr.data.scene_points import (
    kinect2pv_per_frame,
    read_obj_vertices,
    s1_key,
    s2_cube_path,
    scene2kinect_per_recording,
)
from egohmr.files import atomic_save_npy
from egohmr.geometry.frames import apply_transform
from egohmr.jobs import JobManifest, job_output_dir, optional_digest
from egohmr.preprocess.inputs import scene_input_digests
from egohmr.preprocess.pool import run_tasks
from egohmr.preprocess.sampling import RANDOM_STREAMS, SCENE_S2, frame_key, frame_rng, uniform_downsample

__all__ = ["SceneS2Options", "SceneS2Result", "crop_cube", "run_scene_s2"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SceneS2Options:
    """Options of ``run_scene_s2``."""

    root: str
    """EgoBody root."""
    split: str
    """train / val / test."""
    out_root: str
    """Save root (files go to <out_root>/<split>/...)."""
    mode: Literal["train", "test"] = "train"
    """train: cube around the GT body with a random shift; test: around the stage-1 translation."""
    stage1_results: str | None = None
    """Stage-1 results.pkl (mode test)."""
    body_model: str = "open"
    """Body model source for the GT bodies (mode train): 'open', a SMPL folder such as data/smpl, or a file."""
    num_points: int = 20000
    """Points per cube."""
    cube_size_m: float = 2.0
    """Cube side (metres)."""
    max_shift_m: float | None = None
    """Largest random shift per axis in train mode (default cube/4)."""
    num_workers: int = 0
    """Processes (0: in this process)."""
    seed: int = 0
    """Seed of the per-frame yaw / shift draws."""
    allow_replacement: bool = False
    """Sample with replacement when a cube has fewer than num_points vertices."""
    overwrite: bool = False
    """Recompute existing outputs."""
    chunk_size: int = 32
    """Frames per task."""


@dataclass(frozen=True)
class SceneS2Result:
    """Outcome of ``run_scene_s2``: save root of the split, frames of the split, frames computed now."""

    out_dir: Path
    num_frames: int
    num_computed: int


def crop_cube(
    verts_scene: np.ndarray,
    center_scene: np.ndarray,
    rng: np.random.Generator,
    num_points: int,
    where: str,
    cube_size_m: float = 2.0,
    body_verts_scene: np.ndarray | None = None,
    max_shift_m: float | None = None,
    allow_replacement: bool = False,
) -> np.ndarray:
    """Select the scene vertices of one randomly oriented (and, with a body, shifted) cube.

    Args:
        verts_scene: (V, 3) float64 scene-mesh vertices in file order, scene frame (y up).
        center_scene: (3,) cube centre ``c`` in the scene frame.
        rng: draws ``theta`` then (with a body) the x and z shifts.
        num_points: output count.
        where: frame named in errors.
        cube_size_m: cube side (2 m).
        body_verts_scene: (Vb, 3) GT body vertices in the scene frame; enables the random shift (train).
        max_shift_m: shift bound per axis (default ``cube_size_m / 4``).
        allow_replacement: see ``uniform_downsample``.

    Returns:
        (num_points, 3) float64 original vertex coordinates, scene frame.
    """
    c = np.asarray(center_scene, dtype=np.float64)
    half = 0.5 * cube_size_m
    max_shift = 0.25 * cube_size_m if max_shift_m is None else float(max_shift_m)
    theta = rng.uniform(0.0, 2.0 * math.pi)
    cos, sin = math.cos(theta), math.sin(theta)
    shift = np.zeros(2)
    if body_verts_scene is not None:
        bx = body_verts_scene[:, 0] - c[0]
        bz = body_verts_scene[:, 2] - c[2]
        br = np.stack([bx * cos - bz * sin, bx * sin + bz * cos])  # (2, Vb) rotated x, z
        for a in range(2):
            lo = max(-max_shift, br[a].max() - half)
            hi = min(max_shift, half + br[a].min())
            shift[a] = lo + (hi - lo) * rng.random()
    # vertices that can fall inside the rotated, shifted square (same result as testing all; less work)
    reach = math.sqrt(2.0) * half + float(np.hypot(*shift))
    dx = verts_scene[:, 0] - c[0]
    dz = verts_scene[:, 2] - c[2]
    cand = np.flatnonzero(dx * dx + dz * dz <= (reach + 1e-6) ** 2)
    xr = dx[cand] * cos - dz[cand] * sin
    zr = dx[cand] * sin + dz[cand] * cos
    inside = cand[(np.abs(xr - shift[0]) <= half) & (np.abs(zr - shift[1]) <= half)]
    pts = verts_scene[inside]
    if pts.shape[0]:
        pts = pts[pts[:, 1] <= pts[:, 1].min() + cube_size_m]
    return uniform_downsample(pts, num_points, where, allow_replacement, rng)


_CACHE: dict[tuple, object] = {}


def _cached(key: tuple, make):
    if key not in _CACHE:
        if sum(1 for k in _CACHE if k[0] == key[0]) >= 2:
            for k in [k for k in _CACHE if k[0] == key[0]]:
                del _CACHE[k]
        _CACHE[key] = make()
    return _CACHE[key]


def _body_vertices_pv(body_source: str, gender: int, params: dict[str, np.ndarray]) -> np.ndarray:
    """Gendered GT body vertices (B, V, 3) float64 in the PV frame from npz axis-angle parameters."""
    import torch

    from egohmr.body import load_body_model
    from egohmr.geometry.rotations import axis_angle_to_rotmat

    name = "male" if gender == 0 else "female"
    model = _cached(("body", body_source, name), lambda: load_body_model(body_source, name))
    with torch.no_grad():
        go = axis_angle_to_rotmat(torch.from_numpy(params["global_orient_pv"]).float())  # (B, 3, 3)
        bp = axis_angle_to_rotmat(torch.from_numpy(params["pose"]).float().reshape(-1, 23, 3))  # (B, 23, 3, 3)
        out = model(torch.from_numpy(params["shape"]).float(), go, bp, torch.from_numpy(params["transl_pv"]).float())
    return out.vertices.double().numpy()


def _s2_task(task: tuple) -> int:
    mesh_path, frames, opt = task
    verts = _cached(("mesh", mesh_path), lambda: read_obj_vertices(mesh_path))
    body = {}
    if opt.mode == "train":
        for gender in (0, 1):
            idx = [j for j, f in enumerate(frames) if f["gender"] == gender]
            if idx:
                params = {
                    k: np.stack([frames[j][k] for j in idx]) for k in ("global_orient_pv", "pose", "shape", "transl_pv")
                }
                for j, v in zip(idx, _body_vertices_pv(opt.body_model, gender, params), strict=True):
                    body[j] = v
    for j, f in enumerate(frames):
        pv2scene = f["pv2scene"]
        rng = frame_rng(opt.seed, frame_key(f["key"]), SCENE_S2)
        if opt.mode == "train":
            body_scene = apply_transform(pv2scene, body[j])
            center = body_scene.mean(axis=0)
        else:
            body_scene = None
            center = apply_transform(pv2scene, f["transl_stage1_pv"][None])[0]
        pts = crop_cube(
            verts,
            center,
            rng,
            opt.num_points,
            f"frame {f['key']}",
            opt.cube_size_m,
            body_scene,
            opt.max_shift_m,
            opt.allow_replacement,
        )
        atomic_save_npy(f["out"], pts)
    return len(frames)


def run_scene_s2(options: SceneS2Options, progress: bool = True) -> SceneS2Result:
    """Write one stage-2 cube per frame of a split (official file layout); existing files of the same job manifest
    (``<out_root>/<split>/.egohmr-job.scene-s2-<mode>.json``, `s2_manifest`) are skipped.

    Raises:
        egohmr.jobs.StaleOutputError: the split folder holds cubes of other inputs or parameters (or files of another
            program) and ``overwrite`` is False. egohmr.jobs.FolderLockedError: another job is writing it.
        FileNotFoundError / ValueError: missing inputs, unknown recordings, missing stage-1 results in test mode,
            too few points in a cube (naming the frame).
    """
    opt = options
    if opt.mode not in ("train", "test"):
        raise ValueError(f"mode must be 'train' or 'test', got {opt.mode!r}")
    npz_path = ebf.annotation_path(opt.root, opt.split)
    data = ebf.read_annotation_npz(npz_path)
    for name in ("imgname", "global_orient_pv", "pose", "shape", "transl_pv", "gender"):
        if name not in data:
            raise ValueError(f"{npz_path}: field {name!r} missing")
    imgnames = [str(v) for v in data["imgname"]]
    n = len(imgnames)
    transl_stage1 = None
    if opt.mode == "test":
        if opt.stage1_results is None:
            raise ValueError("mode 'test' needs stage1_results (the stage-1 results.pkl with pred_cam_full_list)")
        transl_stage1 = load_stage1_translations(opt.stage1_results, n)
    outs = [s2_cube_path(opt.out_root, opt.split, name) for name in imgnames]
    out_dir = Path(opt.out_root) / opt.split
    with job_output_dir(out_dir, s2_manifest(opt, imgnames), opt.overwrite) as reuse:
        todo = [i for i in range(n) if not (reuse and outs[i].is_file())]
        if not todo:
            logger.info("all %d stage-2 cubes exist in %s", n, out_dir)
            return SceneS2Result(out_dir, n, 0)
        computed = _compute_s2(opt, data, imgnames, transl_stage1, outs, todo, progress)
    return SceneS2Result(out_dir, n, computed)


def s2_manifest(opt: SceneS2Options, imgnames: list[str]) -> JobManifest:
    """The job manifest of a stage-2 preprocessing run: sampling parameters and input digests (the body-model source
    in train mode, the stage-1 results in test mode)."""
    params = {
        "split": opt.split,
        "num_points": opt.num_points,
        "cube_size_m": opt.cube_size_m,
        "max_shift_m": opt.max_shift_m,
        "seed": opt.seed,
        "allow_replacement": opt.allow_replacement,
        "random_streams": RANDOM_STREAMS,
    }
    inputs = scene_input_digests(opt.root, opt.split, [ebf.parse_imgname(x).recording for x in imgnames])
    if opt.mode == "train":
        params["body_model"] = opt.body_model
        inputs["body_model"] = optional_digest(opt.body_model) if Path(opt.body_model).exists() else "built-in"
    else:
        inputs["stage1_results"] = optional_digest(opt.stage1_results)
    return JobManifest(f"scene-s2-{opt.mode}", params, inputs)


def _compute_s2(
    opt: SceneS2Options,
    data: dict[str, np.ndarray],
    imgnames: list[str],
    transl_stage1: np.ndarray | None,
    outs: list[Path],
    todo: list[int],
    progress: bool,
) -> int:
    """Write the cubes of the frames `todo` (rows of the split); returns how many were computed."""
    npz_path = ebf.annotation_path(opt.root, opt.split)
    names = [imgnames[i] for i in todo]
    kinect2pv = kinect2pv_per_frame(opt.root, names)
    recs = [ebf.parse_imgname(x).recording for x in names]
    scenes, scene2kinect = scene2kinect_per_recording(opt.root, recs)
    by_scene: dict[str, list] = {}
    for j, i in enumerate(todo):
        scene2pv = kinect2pv[j] @ scene2kinect[recs[j]]
        frame = {"key": s1_key(imgnames[i]), "pv2scene": ebf.invert_rigid_np(scene2pv), "out": outs[i]}
        if opt.mode == "train":
            g = str(data["gender"][i]).strip().lower()
            if g not in ("m", "f", "male", "female"):
                raise ValueError(f"{npz_path}: field 'gender' row {i} is {g!r}, expected 'm' or 'f'")
            frame["gender"] = 0 if g.startswith("m") else 1
            for k in ("global_orient_pv", "pose", "shape", "transl_pv"):
                frame[k] = np.asarray(data[k][i], dtype=np.float64)
        else:
            frame["transl_stage1_pv"] = transl_stage1[i]
        mesh = str(ebf.scene_mesh_path(opt.root, scenes[recs[j]]))
        by_scene.setdefault(mesh, []).append(frame)
    tasks = [
        (mesh, frames[k : k + opt.chunk_size], opt)
        for mesh, frames in by_scene.items()
        for k in range(0, len(frames), opt.chunk_size)
    ]
    return run_tasks(_s2_task, tasks, opt.num_workers, len(todo), f"scene-s2-{opt.mode} {opt.split}", progress)
