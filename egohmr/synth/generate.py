"""Orchestration of the synthetic EgoBody generator: scenes, recordings (one worker each), files.

Every random draw comes from a numpy Generator seeded by ``(seed, kind, index)``, so a recording's content does not
depend on the number of workers, and the annotation files are byte-identical for identical arguments. Workers
are processes forked from a clean forkserver; each creates its own EGL context, uses one thread
(``LP_NUM_THREADS=1``, one torch thread) and writes its JPEG frames itself; the main process writes the rest.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from egohmr.constants import BBOX_SCALE_UNIT_PX, BODY_POSE_AA_DIM, HOLO_TICKS_PER_S, NUM_BETAS
from egohmr.data import egobody_format as fmt
from egohmr.evaluate.visibility import in_image_mask
from egohmr.geometry.cameras import perspective_project
from egohmr.geometry.frames import apply_transform
from egohmr.geometry.rotations import rotmat_to_axis_angle
from egohmr.jobs import JobManifest, job_output_dir, optional_digest
from egohmr.synth.camera import Intrinsics, WearerTrajectory, look_at, sample_intrinsics, wearer_trajectory
from egohmr.synth.placement import BodyMotion, BodyRig, PosedBodies, place_body
from egohmr.synth.poses import get_pose, sample_pose_spec
from egohmr.synth.rooms import Room, generate_room, yaw_matrix

logger = logging.getLogger(__name__)

PV_FPS = 30.0
PV_FRAME_TICKS = round(HOLO_TICKS_PER_S / PV_FPS)  # 333,333 HoloLens ticks between PV frames
KINECT_COLOR_F = (918.0, 918.0)
KINECT_COLOR_C = (957.0, 550.0)
_SEED_SCENE, _SEED_RECORDING, _SEED_PLAN = 1, 2, 3


@dataclass(frozen=True)
class SynthConfig:
    """Arguments of `generate_dataset`."""

    out: Path
    """Output dataset root (created)."""
    seed: int = 0
    """Seed of every random draw."""
    num_scenes: int = 3
    """Number of procedural rooms."""
    num_recordings: int = 6
    """Number of recordings (one interactee motion and camera-wearer path each), spread over the scenes."""
    num_frames: int = 300
    """Total number of annotated frames, spread evenly over the recordings."""
    width: int = 1920
    """Image width in pixels (HoloLens2 PV: 1920)."""
    height: int = 1080
    """Image height in pixels (HoloLens2 PV: 1080)."""
    workers: int = 2
    """Worker processes (0 or 1: run in this process)."""
    renderer: Literal["auto", "egl", "numpy"] = "auto"
    """Render backend."""
    frame_stride: int = 3
    """Annotated frames are every `frame_stride`-th frame of the 30 fps PV stream."""
    scene_max_edge_m: float = 0.05
    """Longest edge of the written scene meshes, metres. EgoBody's meshes are dense scans and the scene preprocessing
    samples their vertices; at 5 cm a 2 m cube holds a few thousand distinct vertices (preprocess with
    --allow-replacement for 20,000 points: max-pooled PointNet features and point ratios are unaffected by
    uniform duplication)."""
    jpeg_quality: int = 90
    """JPEG quality of the frames."""
    body_source: str = "open"
    """Body model source (`egohmr.body.load_body_model`)."""
    overwrite: bool = False
    """Replace a dataset of other settings in `out` (otherwise refused, as is a folder synth did not make)."""


@dataclass(frozen=True)
class RecordingPlan:
    """Everything a worker needs to synthesise one recording (picklable)."""

    index: int
    name: str
    scene: str
    split: str
    num_frames: int
    holo_time: str
    start_timestamp: int
    start_frame: int
    gender: str  # "male" | "female"
    kinect2scene: np.ndarray
    kinect2holo: np.ndarray


@dataclass
class RecordingResult:
    """What a worker returns: annotation arrays (per frame), world2pv per timestamp, statistics."""

    plan: RecordingPlan
    fields: dict[str, np.ndarray]
    world2pv: dict[str, np.ndarray]
    stats: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------- planning
def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def assign_splits(num_recordings: int, rng: np.random.Generator) -> list[str]:
    """Splits by recording (~70/15/15; at least one test recording from 2 on, one val recording from 3 on)."""
    n = num_recordings
    n_test = 0 if n < 2 else max(1, round(0.15 * n))
    n_val = 0 if n < 3 else max(1, round(0.15 * n))
    splits = ["train"] * (n - n_test - n_val) + ["val"] * n_val + ["test"] * n_test
    return [splits[i] for i in rng.permutation(n)]


def _kinect_pose(room: Room, rng: np.random.Generator) -> np.ndarray:
    """Master Kinect colour camera in a room corner looking at the room centre: (4, 4) kinect -> scene."""
    W, H, D = room.size
    corner = np.array([rng.choice([0.3, W - 0.3]), rng.uniform(1.6, 2.1), rng.choice([0.3, D - 0.3])])
    target = np.array([W / 2, 0.8, D / 2])
    T = np.eye(4)
    T[:3, :3] = look_at(corner[None], target[None])[0]
    T[:3, 3] = corner
    return T


def _scene2holo(rng: np.random.Generator) -> np.ndarray:
    """A gravity-aligned HoloLens world (y-up) with a random yaw and offset w.r.t. the scene."""
    a = rng.uniform(-np.pi, np.pi)
    c, s = np.cos(a), np.sin(a)
    T = np.eye(4)
    T[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    T[:3, 3] = rng.uniform(-3, 3, 3) * [1, 0.3, 1]
    return T


def plan_dataset(cfg: SynthConfig, rooms: list[Room]) -> list[RecordingPlan]:
    """Names, scenes, splits, frame counts, timestamps and calibrations of all recordings."""
    rng = _rng(cfg.seed, _SEED_PLAN)
    splits = assign_splits(cfg.num_recordings, rng)
    base, extra = divmod(cfg.num_frames, cfg.num_recordings)
    plans = []
    for i in range(cfg.num_recordings):
        room = rooms[i % len(rooms)]
        month, day = 6 + i // 28 % 6, 1 + i % 28
        hh, mm, ss = int(rng.integers(9, 19)), int(rng.integers(60)), int(rng.integers(60))
        name = f"recording_2021{month:02d}{day:02d}_S{2 * i + 1:02d}_S{2 * i + 2:02d}_01"
        k2s = _kinect_pose(room, rng)
        plans.append(
            RecordingPlan(
                index=i,
                name=name,
                scene=room.name,
                split=splits[i],
                num_frames=base + (1 if i < extra else 0),
                holo_time=f"2021-{month:02d}-{day:02d}-{hh:02d}{mm:02d}{ss:02d}",
                start_timestamp=int(132_700_000_000_000_000 + rng.integers(0, 10**14)),
                start_frame=int(rng.integers(50, 1500)),
                gender=str(rng.choice(["male", "female"])),
                kinect2scene=k2s,
                kinect2holo=_scene2holo(rng) @ k2s,
            )
        )
    return plans


def make_rooms(cfg: SynthConfig) -> list[Room]:
    return [generate_room(f"synth_room_{i:02d}", _rng(cfg.seed, _SEED_SCENE, i)) for i in range(cfg.num_scenes)]


# ------------------------------------------------------------------------------------------------------ worker
_WORKER: dict[str, object] = {}  # per-process cache of body rigs (created after fork)


def _init_worker() -> None:
    os.environ["LP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def _rig(source: str, gender: str) -> BodyRig:
    key = f"{source}:{gender}"
    if key not in _WORKER:
        from egohmr.body import load_body_model

        _WORKER[key] = BodyRig(load_body_model(source, gender=gender))
    return _WORKER[key]


def _choose_motion(rng, rig, betas, room, times):
    for attempt in range(12):
        spec = sample_pose_spec(rng)
        motion = place_body(rng, rig, betas, spec, room, times)
        if motion is not None:
            return motion
        logger.debug("placement of %s failed (attempt %d)", spec.name, attempt)
    for _ in range(50):
        motion = place_body(rng, rig, betas, get_pose("stand_idle"), room, times)
        if motion is not None:
            return motion
    raise RuntimeError(f"room {room.name}: no collision-free placement found")


def _segment_blocked(a: np.ndarray, b: np.ndarray, room: Room, skip_kinds=("seat",)) -> bool:
    """True if the segment a->b crosses a furniture box (slab test in each box frame)."""
    for box in room.boxes:
        if box.kind in skip_kinds:
            continue
        R = yaw_matrix(box.yaw)
        pa, pb = (a - box.center) @ R, (b - box.center) @ R
        d = pb - pa
        half = np.asarray(box.size) / 2
        t0, t1 = 0.0, 1.0
        ok = True
        for k in range(3):
            if abs(d[k]) < 1e-12:
                if abs(pa[k]) > half[k]:
                    ok = False
                    break
                continue
            u0, u1 = sorted(((-half[k] - pa[k]) / d[k], (half[k] - pa[k]) / d[k]))
            t0, t1 = max(t0, u0), min(t1, u1)
            if t0 > t1:
                ok = False
                break
        if ok and t1 > 0.0 and t0 < 0.95:
            return True
    return False


def _place_wearer(rng, room: Room, joints_scene: np.ndarray, body_yaw: float):
    """Eye position (3,) 1-5 m from the interactee, facing them, inside the room, head in sight."""
    W, _, D = room.size
    rects = room.footprints()
    pelvis, head = joints_scene[0], joints_scene[15]
    for attempt in range(300):
        dist = 1.0 + 4.0 * rng.beta(1.6, 2.6) if attempt < 200 else rng.uniform(0.9, 2.5)
        rel = rng.normal(0.0, np.radians(40.0)) if attempt < 150 else rng.uniform(-np.pi, np.pi)
        ang = body_yaw + rel
        eye = np.array([pelvis[0] + dist * np.sin(ang), rng.uniform(1.5, 1.8), pelvis[2] + dist * np.cos(ang)])
        if not (0.3 < eye[0] < W - 0.3 and 0.3 < eye[2] < D - 0.3):
            continue
        m = 0.25
        if len(rects) and np.any(
            (eye[0] > rects[:, 0] - m)
            & (eye[0] < rects[:, 2] + m)
            & (eye[2] > rects[:, 1] - m)
            & (eye[2] < rects[:, 3] + m)
        ):
            continue
        if _segment_blocked(eye, head, room) or _segment_blocked(eye, joints_scene[9], room):
            continue
        return eye
    raise RuntimeError(f"room {room.name}: no place for the camera wearer")


def _camera_wearer(
    rng: np.random.Generator, room: Room, joints_scene: np.ndarray, orient0: np.ndarray, times: np.ndarray
) -> WearerTrajectory:
    """The wearer's head path: placed facing the interactee, looking at a point between the pelvis and above the head
    (low aims show the legs) that follows the body.

    Args:
        joints_scene: (T, 24, 3) interactee joints, scene frame. orient0: (3, 3) its global orientation at frame 0.
    """
    body_yaw = float(np.arctan2(orient0[0, 2], orient0[2, 2]))
    eye0 = _place_wearer(rng, room, joints_scene[0], body_yaw)
    aim = rng.uniform(0.1, 1.25)
    target = joints_scene[:, 0] + aim * (joints_scene[:, 15] - joints_scene[:, 0])  # (T, 3)
    return wearer_trajectory(rng, times, eye0, target)


@dataclass(frozen=True)
class InteracteeInPV:
    """The interactee of one recording as annotated: SMPL parameters and posed bodies in the PV frame of each frame."""

    betas: np.ndarray  # (10,)
    global_orient_rotmat_pv: np.ndarray  # (T, 3, 3), local -> PV
    body_pose_rotmat: np.ndarray  # (T, 23, 3, 3)
    transl_pv: np.ndarray  # (T, 3) metres
    posed: PosedBodies  # vertices, joints, OpenPose 25 and landmarks, metres, PV frame


@dataclass
class RenderedFrames:
    """Per-frame outputs of the render loop: image names, OpenPose keypoints and boxes."""

    imgnames: list[str]
    keypoints: np.ndarray  # (T, 25, 3) (u px, v px, confidence); confidence 0 where not detected
    center: np.ndarray  # (T, 2) px, box centre
    scale: np.ndarray  # (T,) box side / BBOX_SCALE_UNIT_PX
    render_seconds: float


def _pv_timestamps(rng: np.random.Generator, plan: RecordingPlan, frame_stride: int) -> list[str]:
    """HoloLens timestamps (100 ns ticks) of the annotated frames: every ``frame_stride``-th PV frame, +-40 ticks."""
    return [
        str(plan.start_timestamp + i * frame_stride * PV_FRAME_TICKS + int(rng.integers(-40, 40)))
        for i in range(plan.num_frames)
    ]


def _pv_calibration(
    plan: RecordingPlan, scene2cam: np.ndarray, timestamps: list[str]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``world2pv`` per timestamp solved so that the official chain reproduces the camera path, and that chain.

    Args:
        scene2cam: (T, 4, 4) wanted scene -> PV camera (OpenCV axes) transforms.

    Returns:
        ({timestamp: (4, 4) world2pv}, (T, 4, 4) scene2pv of the official chain).
    """
    world2pv, scene2pv = {}, np.zeros((len(timestamps), 4, 4))
    for i, stamp in enumerate(timestamps):
        w2p = fmt.world2pv_from_scene2pv(scene2cam[i], plan.kinect2scene, plan.kinect2holo)
        world2pv[stamp] = w2p
        scene2pv[i] = fmt.scene2pv(plan.kinect2scene, plan.kinect2holo, w2p)
    return world2pv, scene2pv


def _interactee_in_pv(
    rig: BodyRig, betas: np.ndarray, motion: BodyMotion, pelvis_scene: np.ndarray, scene2pv: np.ndarray
) -> InteracteeInPV:
    """SMPL parameters in the PV frame: the root rotates about the rest pelvis j0, so ``transl_pv = pelvis_pv - j0``.

    Args:
        pelvis_scene: (T, 3) pelvis joint in the scene frame. scene2pv: (T, 4, 4).
    """
    j0 = rig.rest_pelvis(betas)
    go_pv = scene2pv[:, :3, :3] @ motion.global_orient_rotmat
    pelvis_pv = apply_transform(scene2pv, pelvis_scene[:, None])[:, 0]
    transl_pv = pelvis_pv - j0
    posed = rig.forward(betas, go_pv, motion.body_pose_rotmat, transl_pv)
    return InteracteeInPV(betas, go_pv, motion.body_pose_rotmat, transl_pv, posed)


def _detect_openpose(
    keypoints_pv: np.ndarray, K: tuple[float, ...], width: int, height: int, img, rng: np.random.Generator
) -> np.ndarray:
    """Simulated OpenPose BODY_25 of one frame: a keypoint is detected when it is in the image, in front of the camera
    and not hidden by the scene (depth buffer of the rendered ``img``).

    Args:
        keypoints_pv: (25, 3) metres, PV frame. K: (fx, fy, cx, cy) px.

    Returns:
        (25, 3) (u px, v px, confidence in [0.6, 1) or 0 when not detected).
    """
    z = keypoints_pv[:, 2]
    uv = perspective_project(keypoints_pv, *K, min_depth_m=1e-9)
    u, v = uv[:, 0], uv[:, 1]
    vis = (z > 0.05) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    ui = np.clip(np.rint(u), 0, width - 1).astype(int)
    vi = np.clip(np.rint(v), 0, height - 1).astype(int)
    occluded = (img.object_id[vi, ui] != 1) & (img.depth[vi, ui] < z - 0.05)
    vis &= ~occluded
    conf = np.where(vis, rng.uniform(0.6, 1.0, 25), 0.0)
    return np.stack([u, v, conf], axis=1)


def _box_corners(keypoints: np.ndarray, vertices_pv: np.ndarray, K: tuple[float, ...], width: int, height: int):
    """Corners (lo (2,), hi (2,)) px of the detected keypoints' box, or, with fewer than two detections, of the
    projected body clipped to the image."""
    detected = keypoints[:, 2] > 0
    if detected.sum() >= 2:
        uv = keypoints[detected, :2]
    else:
        uv = np.clip(perspective_project(vertices_pv, *K), 0, [width - 1, height - 1])
    return uv.min(axis=0), uv.max(axis=0)


def _render_frames(
    cfg: SynthConfig,
    plan: RecordingPlan,
    room: Room,
    rig: BodyRig,
    body: InteracteeInPV,
    intr: Intrinsics,
    scene2pv: np.ndarray,
    timestamps: list[str],
    rng: np.random.Generator,
) -> RenderedFrames:
    """Render the scene and the interactee from the wearer's PV camera, detect keypoints and boxes, write the JPEGs."""
    from egohmr.render import Mesh, render
    from egohmr.synth.writer import body_vertex_colors, save_jpeg

    scene_v, scene_f, scene_c = room.mesh()
    body_colors = body_vertex_colors(rig.model.lbs_weights.numpy(), rng)
    W, H = cfg.width, cfg.height
    T = plan.num_frames
    out = RenderedFrames([], np.zeros((T, 25, 3)), np.zeros((T, 2)), np.zeros(T), 0.0)
    for i in range(T):
        K = (intr.fx[i], intr.fy[i], intr.cx[i], intr.cy[i])
        t0 = time.perf_counter()
        meshes = [
            Mesh(apply_transform(scene2pv[i], scene_v), scene_f, scene_c, 0),
            Mesh(body.posed.vertices[i], rig.faces, body_colors, 1),
        ]
        img = render(meshes, K, None, W, H, cfg.renderer)
        out.render_seconds += time.perf_counter() - t0
        out.keypoints[i] = _detect_openpose(body.posed.openpose25[i], K, W, H, img, rng)
        lo, hi = _box_corners(out.keypoints[i], body.posed.vertices[i], K, W, H)
        out.center[i] = (lo + hi) / 2
        out.scale[i] = max(float((hi - lo).max()), 10.0) / BBOX_SCALE_UNIT_PX
        rel = fmt.image_relpath(plan.name, plan.holo_time, timestamps[i], plan.start_frame + i * cfg.frame_stride)
        save_jpeg(Path(cfg.out) / rel, img.rgb, cfg.jpeg_quality)
        out.imgnames.append(rel)
    return out


def _annotation_fields(
    plan: RecordingPlan, body: InteracteeInPV, intr: Intrinsics, frames: RenderedFrames
) -> dict[str, np.ndarray]:
    """The official per-frame annotation fields (float32 as in EgoBody; see `egohmr.data.egobody_format`)."""
    T = plan.num_frames
    pose_aa = rotmat_to_axis_angle(torch.as_tensor(body.body_pose_rotmat)).numpy().reshape(T, BODY_POSE_AA_DIM)
    go_aa = rotmat_to_axis_angle(torch.as_tensor(body.global_orient_rotmat_pv)).numpy().reshape(T, 3)
    f32 = np.float32
    return {
        "imgname": np.asarray(frames.imgnames),
        "center": frames.center.astype(f32),
        "scale": frames.scale.astype(f32),
        "pose": pose_aa.astype(f32),
        "shape": np.repeat(body.betas[None], T, axis=0).astype(f32),
        "global_orient_pv": go_aa.astype(f32),
        "transl_pv": body.transl_pv.astype(f32),
        "fx": intr.fx.astype(f32),
        "fy": intr.fy.astype(f32),
        "cx": intr.cx.astype(f32),
        "cy": intr.cy.astype(f32),
        "valid_keypoints": frames.keypoints.astype(f32),
        "3d_joints_pv": np.concatenate([body.posed.joints, body.posed.landmarks], axis=1).astype(f32),
        "gender": np.asarray(["m" if plan.gender == "male" else "f"] * T),
    }


def _count_truncated(joints_pv: np.ndarray, intr: Intrinsics, width: int, height: int) -> int:
    """Number of frames with any of the 24 SMPL joints ((T, 24, 3), PV frame) outside the image or behind the
    camera."""
    inside = in_image_mask(joints_pv, intr.fx, intr.fy, intr.cx, intr.cy, image_size_px=(width, height))
    return int((~inside).any(axis=1).sum())


def synthesize_recording(cfg: SynthConfig, plan: RecordingPlan, room: Room) -> RecordingResult:
    """Generate, render and annotate one recording; writes its JPEG frames under ``cfg.out``.

    Every random draw comes from the recording's generator, in this order: betas, motion, wearer, intrinsics,
    timestamps, clothing, per-frame keypoint confidences.

    Returns:
        RecordingResult with the official per-frame annotation fields (see `egohmr.data.egobody_format`).
    """
    t_start = time.perf_counter()
    rng = _rng(cfg.seed, _SEED_RECORDING, plan.index)
    times = np.arange(plan.num_frames) * cfg.frame_stride / PV_FPS
    rig = _rig(cfg.body_source, plan.gender)
    betas = np.clip(rng.normal(0.0, 0.8, NUM_BETAS), -2.0, 2.0) * np.linspace(1.0, 0.4, NUM_BETAS)
    motion = _choose_motion(rng, rig, betas, room, times)
    joints_scene = rig.forward(betas, motion.global_orient_rotmat, motion.body_pose_rotmat, motion.transl).joints
    traj = _camera_wearer(rng, room, joints_scene, motion.global_orient_rotmat[0], times)
    intr = sample_intrinsics(rng, plan.num_frames, cfg.width, cfg.height)
    timestamps = _pv_timestamps(rng, plan, cfg.frame_stride)
    world2pv, scene2pv = _pv_calibration(plan, traj.scene2cam, timestamps)
    body = _interactee_in_pv(rig, betas, motion, joints_scene[:, 0], scene2pv)
    frames = _render_frames(cfg, plan, room, rig, body, intr, scene2pv, timestamps, rng)
    fields = _annotation_fields(plan, body, intr, frames)
    stats = {
        "frames": float(plan.num_frames),
        "truncated_frames": float(_count_truncated(body.posed.joints, intr, cfg.width, cfg.height)),
        "seconds": time.perf_counter() - t_start,
        "render_seconds": frames.render_seconds,
        "pose": motion.spec_name,
        "support": motion.support,
        "max_penetration_m": motion.max_penetration_m,
    }
    return RecordingResult(plan=plan, fields=fields, world2pv=world2pv, stats=stats)


def _worker_job(args) -> RecordingResult:
    cfg, plan, room = args
    _init_worker()
    return synthesize_recording(cfg, plan, room)


# ------------------------------------------------------------------------------------------------------ dataset
@dataclass
class DatasetSummary:
    """What `generate_dataset` did: frames per split, truncated fraction, timings (seconds)."""

    frames_per_split: dict[str, int]
    truncated_fraction: float
    seconds: float
    recordings: list[dict[str, object]]

    @property
    def frames(self) -> int:
        return sum(self.frames_per_split.values())


def _validate(cfg: SynthConfig) -> None:
    for name in ("num_scenes", "num_recordings", "num_frames", "width", "height", "frame_stride"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"synth: {name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.num_frames < cfg.num_recordings:
        raise ValueError(f"synth: num_frames ({cfg.num_frames}) must be >= num_recordings ({cfg.num_recordings})")
    if cfg.renderer not in ("auto", "egl", "numpy"):
        raise ValueError(f"synth: renderer must be auto, egl or numpy, got {cfg.renderer!r}")


def _synthesize_all(cfg: SynthConfig, jobs: list[tuple[SynthConfig, RecordingPlan, Room]]) -> list[RecordingResult]:
    """Run `synthesize_recording` on every job: in this process (threads restored afterwards) or in worker processes."""
    if cfg.workers <= 1 or len(jobs) == 1:
        threads = torch.get_num_threads()
        old_lp = os.environ.get("LP_NUM_THREADS")
        try:
            _init_worker()
            return [synthesize_recording(*job) for job in jobs]
        finally:
            torch.set_num_threads(threads)
            if old_lp is None:
                os.environ.pop("LP_NUM_THREADS", None)
            else:
                os.environ["LP_NUM_THREADS"] = old_lp
    # forkserver: workers fork from a clean server process (no torch/OpenMP or EGL state of this process,
    # which may already have rendered or run torch; forking that can deadlock).
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["egohmr.synth.generate", "egohmr.synth.placement", "egohmr.render"])
    with ctx.Pool(min(cfg.workers, len(jobs))) as pool:
        return pool.map(_worker_job, jobs, chunksize=1)


def _write_scenes_and_calibrations(cfg: SynthConfig, rooms: list[Room], results: list[RecordingResult]) -> None:
    """Scene meshes, Kinect calibrations and the per-recording transforms, in the official layout."""
    from egohmr.synth.writer import tessellate, write_obj

    out = Path(cfg.out)
    for room in rooms:
        v, f, c = tessellate(*room.mesh(), max_edge_m=cfg.scene_max_edge_m)
        write_obj(fmt.scene_mesh_path(out, room.name), v, f, c)
    for res in results:
        fmt.write_kinect2scene(fmt.kinect2scene_path(out, res.plan.name, res.plan.scene), res.plan.kinect2scene)
    fmt.write_kinect_color_params(fmt.kinect_color_params_path(out), KINECT_COLOR_F, KINECT_COLOR_C)
    fmt.write_transf_matrices(
        fmt.transf_matrices_path(out),
        {r.plan.name: fmt.RecordingTransforms(r.plan.kinect2holo, r.world2pv) for r in results},
    )


def _data_info_row(plan: RecordingPlan, frame_stride: int) -> dict[str, object]:
    """The `data_info_release.csv` row of a recording; the interactee's partner is the camera wearer."""
    other = "female" if plan.gender == "male" else "male"
    fpv = plan.index % 2
    genders = (plan.gender, other) if fpv == 0 else (other, plan.gender)
    return {
        "recording_name": plan.name,
        "start_frame": plan.start_frame,
        "end_frame": plan.start_frame + (plan.num_frames - 1) * frame_stride,
        "body_idx_0": f"0 {genders[0]}",
        "body_idx_1": f"1 {genders[1]}",
        "body_idx_fpv": f"{fpv} {plan.gender}",
        "scene_name": plan.scene,
    }


def _write_annotations(out: Path, results: list[RecordingResult]) -> dict[str, int]:
    """One annotation npz per split (an empty one for a split without recordings); returns frames per split."""
    frames_per_split = {}
    for split in fmt.SPLITS:
        parts = [r.fields for r in results if r.plan.split == split]
        if parts:
            fields = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        else:
            fields = {k: v[:0] for k, v in results[0].fields.items()}
        fmt.write_annotation_npz(fmt.annotation_path(out, split), fields)
        frames_per_split[split] = len(fields["imgname"])
    return frames_per_split


def generate_dataset(cfg: SynthConfig) -> DatasetSummary:
    """Write a synthetic dataset in the official EgoBody layout under ``cfg.out``.

    Returns:
        DatasetSummary.

    ``cfg.out`` stores the dataset's `synth_manifest` (``.egohmr-job.synth.json``) and is locked while it is written.

    Raises:
        ValueError: invalid arguments.
        egohmr.jobs.StaleOutputError: ``cfg.out`` holds a dataset of other settings, or files synth did not write, and
            ``cfg.overwrite`` is False. egohmr.jobs.FolderLockedError: another job is writing it.
    """
    _validate(cfg)
    with job_output_dir(cfg.out, synth_manifest(cfg), cfg.overwrite):
        return _generate(cfg)


def synth_manifest(cfg: SynthConfig) -> JobManifest:
    """The `egohmr.jobs` manifest of a synthetic dataset: every setting that changes its content."""
    params = {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name not in ("out", "workers", "overwrite")}
    body = Path(cfg.body_source)
    return JobManifest("synth", params, {"body_source": optional_digest(body) if body.exists() else "built-in"})


def _generate(cfg: SynthConfig) -> DatasetSummary:
    t0 = time.perf_counter()
    out = Path(cfg.out)
    rooms = make_rooms(cfg)
    by_name = {r.name: r for r in rooms}
    results = _synthesize_all(cfg, [(cfg, p, by_name[p.scene]) for p in plan_dataset(cfg, rooms)])
    _write_scenes_and_calibrations(cfg, rooms, results)
    fmt.write_data_info(fmt.data_info_path(out), [_data_info_row(r.plan, cfg.frame_stride) for r in results])
    frames_per_split = _write_annotations(out, results)
    total = sum(r.stats["frames"] for r in results)
    trunc = sum(r.stats["truncated_frames"] for r in results) / max(total, 1)
    summary = DatasetSummary(
        frames_per_split=frames_per_split,
        truncated_fraction=float(trunc),
        seconds=time.perf_counter() - t0,
        recordings=[{"name": r.plan.name, "split": r.plan.split, **r.stats} for r in results],
    )
    logger.info("synthetic dataset: %d frames in %.1f s -> %s", summary.frames, summary.seconds, out)
    return summary
