"""`egohmr infer`: run both stages on your own frames (one image or a folder) with 2D keypoints or boxes, a scene
and camera poses; write the demo's per-frame outputs and, for the sequence, one results file, one .glb and index.html.

    egohmr infer --frames PATH --scene MESH_OR_POINTS --out DIR [--keypoints FILE_OR_DIR] [--bbox x1,y1,x2,y2 | JSON]
        [--intrinsics fx,fy,cx,cy | JSON] [--fov DEG]
        [--poses JSON | NPY | transf_matrices_all_seqs.pkl --recording NAME [--kinect2scene JSON]]
        [--person K] [--conf-threshold C] [--up-axis y|z] [--smooth]
        [--stage1 CKPT --stage2 CKPT] [--fast] [--num-samples N] [--sampler ddpm --steps 50] [--eta 0]
        [--no-fuse] [--no-guidance] [--seed 0] [--max-memory-gb G] [--device auto]

Inputs are read and checked by `egohmr.recordings.load_recording` (formats: docs/infer.md); the frames run through
`egohmr.pipeline.sequence.run_sequence`. Outputs (docs/outputs.md): DIR/frames/<frame stem>{.npz,_overlay.png,
_scene.png,.glb}, DIR/predictions/<frame stem>.npz, DIR/sequence_<frames>_runNN{.npz,.glb} and DIR/index.html (the
last line printed).

``--image IMG`` is the one-image form kept from before: ``--intrinsics`` and ``--bbox`` are then numbers, keypoints a
25x3 JSON list or an OpenPose file, the scene's vertices are used as they are (no surface sampling), in the PV frame
unless ``--world-to-camera`` is given; it also writes DIR/prediction.npz.

DIR must be new, empty, or a folder `egohmr infer` made (marker file `INFER_MARKER`); runs into one folder keep each
other's sequence files.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from egohmr.pipeline.sampling import SamplingOverrides

INFER_MARKER = ".egohmr-infer"
"""File `egohmr infer` writes in its output folder: it only writes into new, empty or its own folders."""


@dataclass(frozen=True)
class InferSettings:
    """What `egohmr infer` runs, from its flags (files are read by `run_infer`).

    Exactly one of `frames` (a recording: image or folder) and `image` (the one-image form, module docstring) is set.
    """

    frames: Path | None
    image: Path | None
    scene: Path
    intrinsics: tuple[float, float, float, float] | Path | None
    """(fx, fy, cx, cy) px, or a JSON file (`egohmr.recordings.intrinsics`); None: from --fov."""
    bbox_px: tuple[float, float, float, float] | Path | None
    """(x1, y1, x2, y2) px, or a JSON file of boxes (`egohmr.recordings.boxes`); None: from the keypoints."""
    keypoints: Path | None
    world_to_camera: str | None
    """One-image form: 16 numbers or a .npy/.json file (`read_world_to_camera`); None: the scene is in the PV frame."""
    poses: Path | None
    recording: str | None
    kinect2scene: Path | None
    person: int | None
    fov_deg: float | None
    conf_threshold: float
    up_axis: str
    smooth: bool
    stage1: Path | None
    stage2: Path | None
    device: str
    out: Path
    sampling: SamplingOverrides
    """Choices on top of the demo preset of the stage-2 checkpoint (`egohmr.pipeline.sampling`)."""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `infer` subcommand."""
    parser = subparsers.add_parser(
        "infer",
        help="predict body samples for your own frames (one image or a sequence) with their scene",
        description="Run stage 1 -> stage-2 scene crop -> stage 2 on every frame and write per-frame outputs, one "
        "results file and one .glb for the sequence, and index.html. Default checkpoints: the shipped cpu ones "
        "(trained on synthetic data).",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--frames", type=Path, help="an image or a folder of images (.jpg/.jpeg/.png)")
    what.add_argument("--image", type=Path, help="one image, the one-image form of before (see the docs)")
    parser.add_argument("--scene", type=Path, required=True, help="scene mesh or points (.obj, .ply, .glb, .npy, ...)")
    parser.add_argument(
        "--intrinsics", default=None, help="fx,fy,cx,cy in pixels of the full image, or a JSON file (per frame)"
    )
    parser.add_argument("--fov", type=float, default=None, help="horizontal field of view (deg) without intrinsics")
    parser.add_argument("--bbox", default=None, help="body box x1,y1,x2,y2 in pixels, or a JSON file of boxes")
    parser.add_argument(
        "--keypoints", type=Path, default=None, help="OpenPose folder/file or COCO(-WholeBody) JSON (docs/infer.md)"
    )
    parser.add_argument(
        "--poses", type=Path, default=None, help="camera-to-scene poses (.json/.npy) or EgoBody's .pkl; none: the "
        "scene is in the camera frame"
    )  # fmt: skip
    parser.add_argument("--recording", default=None, help="recording name in transf_matrices_all_seqs.pkl")
    parser.add_argument("--kinect2scene", type=Path, default=None, help="EgoBody kinect12_to_world JSON (with .pkl)")
    parser.add_argument("--person", type=int, default=None, help="person index in every frame (default: largest)")
    parser.add_argument("--conf-threshold", type=float, default=0.0, help="keypoint confidence threshold (default 0)")
    parser.add_argument("--up-axis", default="y", choices=("y", "z"), help="the scene's vertical axis (default y)")
    parser.add_argument(
        "--smooth",
        action="store_true",
        help="average the mode sample's translation over 5 frames in the scene (not in the paper; off by default)",
    )
    parser.add_argument(
        "--world-to-camera",
        default=None,
        help="--image only: 4x4 world -> PV transform: 16 comma-separated "
        "numbers (row-major; write --world-to-camera=-0.9,... when the first is negative) or a .npy/.json file; "
        "the scene is then in the world frame (y up)",
    )
    parser.add_argument("--stage1", type=Path, default=None, help="stage-1 checkpoint (ours or official)")
    parser.add_argument("--stage2", type=Path, default=None, help="stage-2 checkpoint (ours or official)")
    # sampling: None keeps the demo preset of the stage-2 checkpoint (egohmr.pipeline.sampling)
    parser.add_argument(
        "--fast",
        action="store_true",
        help="the fast setting: DDIM over 10 steps (5,2,1,1,1), eta 1, stronger guidance, ~1/4 of the default's "
        "stage-2 time (docs/stage2.md); the sampling flags below apply on top",
    )
    parser.add_argument("--num-samples", type=int, default=None, help="samples (default 5)")
    parser.add_argument("--sampler", default=None, choices=("ddpm", "ddim"), help="sampler (default ddpm)")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: all 50)")
    parser.add_argument(
        "--spacing", default=None, help="kept timesteps instead of --steps, e.g. '5,1,1,1,1' (see `egohmr test stage2`)"
    )
    parser.add_argument("--eta", type=float, default=None, help="DDIM eta: 0 deterministic (default), 1 stochastic")
    parser.add_argument("--fuse", action=argparse.BooleanOptionalAction, default=None, help="diffuse_fuse (default on)")
    parser.add_argument(
        "--guidance", action=argparse.BooleanOptionalAction, default=None, help="collision guidance (default on)"
    )
    parser.add_argument("--seed", type=int, default=None, help="sampling seed (default 0)")
    parser.add_argument(
        "--max-memory-gb",
        type=float,
        default=None,
        help="--frames: stage 2 samples as many frames per call as fit this memory (default: the checkpoint's "
        "test.batch_size frames per call, 5 in the presets)",
    )
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.set_defaults(func=run_infer)
    return parser


def parse_numbers(text: str, count: int, flag: str) -> list[float]:
    """`count` comma-separated numbers, else ValueError naming the flag."""
    try:
        values = [float(v) for v in str(text).replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise ValueError(f"{flag}: expected {count} comma-separated numbers, got {text!r}") from None
    if len(values) != count:
        raise ValueError(f"{flag}: expected {count} comma-separated numbers, got {len(values)} in {text!r}")
    return values


def read_keypoints(path: Path) -> np.ndarray:
    """(25, 3) keypoints from a JSON file: a 25x3 list, {"keypoints": 25x3}, or OpenPose's people[0]."""
    if not path.is_file():
        raise FileNotFoundError(f"--keypoints file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"--keypoints {path}: not valid JSON ({err})") from None
    if isinstance(data, dict) and "people" in data:
        if not data["people"]:
            raise ValueError(f"--keypoints {path}: OpenPose file with no person")
        data = data["people"][0].get("pose_keypoints_2d")
    elif isinstance(data, dict):
        data = data.get("keypoints")
    try:
        kp = np.asarray(data, dtype=np.float64).reshape(25, 3)
    except (TypeError, ValueError):
        raise ValueError(f"--keypoints {path}: expected 25x3 numbers (x px, y px, confidence)") from None
    return kp


def read_world_to_camera(value: str) -> np.ndarray:
    """4x4 from 16 comma-separated numbers or a .npy/.json file."""
    path = Path(value)
    if path.suffix.lower() in (".npy", ".json"):
        if not path.is_file():
            raise FileNotFoundError(f"--world-to-camera file not found: {path}")
        arr = np.load(path) if path.suffix.lower() == ".npy" else np.asarray(json.loads(path.read_text()), float)
        if arr.size != 16:
            raise ValueError(f"--world-to-camera {path}: expected a 4x4 matrix, got shape {arr.shape}")
        return arr.reshape(4, 4).astype(np.float64)
    return np.asarray(parse_numbers(value, 16, "--world-to-camera")).reshape(4, 4)


def numbers_or_file(value: str | None, count: int, flag: str) -> tuple[float, ...] | Path | None:
    """`count` comma-separated numbers, or a path when `value` names a .json file; None stays None."""
    if value is None:
        return None
    if str(value).lower().endswith(".json"):
        return Path(value)
    return tuple(parse_numbers(value, count, flag))


def infer_settings(args: argparse.Namespace) -> InferSettings:
    """`InferSettings` of the flags (numbers parsed; ValueError naming a malformed flag)."""
    return InferSettings(
        frames=args.frames,
        image=args.image,
        scene=args.scene,
        intrinsics=numbers_or_file(args.intrinsics, 4, "--intrinsics"),
        bbox_px=numbers_or_file(args.bbox, 4, "--bbox"),
        keypoints=args.keypoints,
        world_to_camera=args.world_to_camera,
        poses=args.poses,
        recording=args.recording,
        kinect2scene=args.kinect2scene,
        person=args.person,
        fov_deg=args.fov,
        conf_threshold=args.conf_threshold,
        up_axis=args.up_axis,
        smooth=args.smooth,
        stage1=args.stage1,
        stage2=args.stage2,
        device=args.device,
        out=args.out,
        sampling=SamplingOverrides(
            fast=args.fast,
            num_samples=args.num_samples,
            sampler=args.sampler,
            steps=args.steps,
            spacing=args.spacing,
            eta=args.eta,
            fuse=args.fuse,
            guidance=args.guidance,
            seed=args.seed,
            max_memory_gb=args.max_memory_gb,
        ),
    )


def check_single_image_flags(s: InferSettings) -> None:
    """The one-image form needs numeric --intrinsics and --bbox and takes no recording flags (ValueError)."""
    for flag, value in (("--intrinsics", s.intrinsics), ("--bbox", s.bbox_px)):
        if not isinstance(value, tuple):
            raise ValueError(f"--image: {flag} must be 4 comma-separated numbers (use --frames for files)")
    if s.poses is not None or s.smooth:
        raise ValueError("--image: --poses and --smooth need --frames (the scene is given by --world-to-camera)")


def claim_infer_folder(out: Path) -> None:
    """Create `out` or accept it when empty or made by `egohmr infer`; write the marker (ValueError otherwise)."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / INFER_MARKER).is_file():
        raise ValueError(f"--out {out} is a folder not written by egohmr infer: give a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / INFER_MARKER).write_text("written by egohmr infer: later runs may add files to this folder\n")


def run_infer(args: argparse.Namespace) -> int:
    """Run `egohmr infer` (module docstring); returns 0."""
    from egohmr.cli.demo import limit_cpu_threads
    from egohmr.jobs import clean_stale_temporaries, folder_lock
    from egohmr.pipeline.core import EgoHMRPipeline

    s = infer_settings(args)
    if s.image is not None:
        check_single_image_flags(s)
        if not s.image.is_file():
            raise FileNotFoundError(f"--image not found: {s.image}")
    if s.world_to_camera is not None and s.frames is not None:
        raise ValueError("--world-to-camera is for --image; with --frames give --poses")
    claim_infer_folder(Path(s.out))
    with folder_lock(s.out):  # a second infer into the same folder stops here with the pid of this one
        clean_stale_temporaries(s.out)
        limit_cpu_threads(s.device)
        if s.frames is not None:
            recording = _load_recording(s)  # inputs checked before the models load
        print("loading the models", flush=True)
        pipe = EgoHMRPipeline.from_pretrained(s.stage1, s.stage2, device=s.device)
        if s.image is not None:
            return _run_single_image(s, pipe)
        return _run_recording(s, pipe, recording)


def _load_recording(s: InferSettings):
    from egohmr.recordings import load_recording

    print(f"reading the recording {s.frames}", flush=True)
    rec = load_recording(
        s.frames,
        s.keypoints,
        scene=s.scene,
        intrinsics=s.intrinsics,
        poses=s.poses,
        bbox=s.bbox_px,
        person=s.person,
        fov_deg=s.fov_deg,
        conf_threshold=s.conf_threshold,
        recording=s.recording,
        kinect2scene=s.kinect2scene,
        up_axis=s.up_axis,
    )
    for note in rec.notes:
        print(f"note: {note}", flush=True)
    return rec


def _sampling(s: InferSettings, pipe):
    from egohmr.pipeline.sampling import num_sampling_steps

    sampling = pipe.sampling_settings(overrides=s.sampling)
    steps = num_sampling_steps(sampling, pipe.stage2.cfg.schedule)
    print(f"predicting {sampling.num_samples} samples per frame ({sampling.sampler}-{steps})", flush=True)
    return sampling


def _domain_note(pipe) -> str | None:
    from egohmr.pipeline.domain import training_domain_note

    note = training_domain_note(pipe.models)
    if note is not None:
        print(f"note: {note}", flush=True)
    return note


def _run_recording(s: InferSettings, pipe, recording) -> int:
    from tqdm import tqdm

    from egohmr.outputs import write_html_report
    from egohmr.outputs.sequence_outputs import new_run_name
    from egohmr.pipeline.domain import body_model_name
    from egohmr.pipeline.records import write_frame_prediction, write_sequence_files
    from egohmr.pipeline.sequence import SMOOTH_WINDOW, run_sequence, scene_mesh_of

    out = Path(s.out)
    domain = _domain_note(pipe)
    sampling = _sampling(s, pipe)
    body = body_model_name(pipe.models)
    with tqdm(total=len(recording.frames), unit="frame", desc="frames") as bar:
        seq = run_sequence(
            pipe,
            recording,
            sampling,
            seed=sampling.seed,
            smooth=s.smooth,
            progress=lambda done, total, name: bar.update(1),
            on_frame=lambda frame, image, result: write_frame_prediction(out, frame, image, result, body),
        )
    frame_note = (
        "no camera poses: the scene is taken to be each frame's camera frame, so the scene-frame results equal the "
        "PV-frame ones (each frame in its own camera frame)"
        if seq.scene_frame == "camera"
        else "scene-frame results: each frame's PV-frame results mapped by inverse(world2pv)"
    )
    smooth_note = (
        f"--smooth (not in the paper): the mode sample's translation (and so its joints and vertices) is a centred "
        f"moving average over {SMOOTH_WINDOW} frames in the scene frame; per-frame files are not smoothed"
        if s.smooth
        else None
    )
    notes = [n for n in (frame_note, smooth_note, domain, *recording.notes) if n]
    metadata = {
        "num_frames": len(seq.frames),
        "scene_frame": seq.scene_frame,
        "scene_file": str(recording.scene.path),
        "body_model": body,
        "checkpoints": pipe.models.sources,
        "trained_on_synthetic_data": domain is not None,
        "smoothed": seq.smoothed,
        "smooth_window": SMOOTH_WINDOW if seq.smoothed else None,
        "sampling": {"num_samples": sampling.num_samples, "sampler": sampling.sampler, "spacing": sampling.spacing,
                     "eta": sampling.eta, "guidance": sampling.guidance.enabled, "seed": sampling.seed},
        "skipped_frames": list(recording.skipped_frames),
        "notes": notes,
    }  # fmt: skip
    run = new_run_name(out, Path(s.frames).resolve().name)
    files = write_sequence_files(
        out, run, seq, metadata, scene_mesh_of(recording, s.up_axis), recording.scene.points_scene
    )
    print(f"note: {frame_note}", flush=True)
    print(f"sequence results: {files.results} (scene: {files.glb.name})", flush=True)
    index = write_html_report(out, title=f"EgoHMR: {Path(s.frames).name}")
    print(f"done: open {index.resolve()}")
    return 0


def _run_single_image(s: InferSettings, pipe) -> int:
    import torch

    from egohmr.data.images import read_rgb
    from egohmr.outputs import frame_stem, write_frame_outputs, write_html_report
    from egohmr.pipeline.core import load_scene_points
    from egohmr.pipeline.domain import body_model_name
    from egohmr.pipeline.records import result_record, save_prediction_npz

    image = read_rgb(s.image, "--image")
    keypoints = read_keypoints(s.keypoints) if s.keypoints is not None else None
    world2pv = read_world_to_camera(s.world_to_camera) if s.world_to_camera is not None else None
    scene = load_scene_points(s.scene)
    domain = _domain_note(pipe)
    sampling = _sampling(s, pipe)
    result = pipe(
        image,
        s.intrinsics,
        s.bbox_px,
        scene,
        world2pv=world2pv,
        keypoints_op25=keypoints,
        settings=sampling,
        generator=torch.Generator().manual_seed(sampling.seed),
    )
    out = Path(s.out)
    save_prediction_npz(out / "prediction.npz", result, body_model_name(pipe.models))
    print(f"writing outputs to {out}", flush=True)
    record = result_record(s.image.name, image, s.intrinsics, s.bbox_px, result)
    write_frame_outputs(record, out, stem=frame_stem(s.image.name, 0), image=image)
    index = write_html_report(out, title=f"EgoHMR: {s.image.name}", notes=[domain] if domain else ())
    print(f"done: open {index.resolve()}")
    return 0
