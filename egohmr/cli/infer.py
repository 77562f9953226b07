"""`egohmr infer`: run both stages on one image and write the same outputs as the demo (no GT, no metrics).

    egohmr infer --image IMG --scene MESH_OR_POINTS --intrinsics fx,fy,cx,cy --bbox x1,y1,x2,y2 --out DIR
        [--keypoints JSON] [--world-to-camera 16 numbers | FILE.npy | FILE.json] [--stage1 CKPT --stage2 CKPT]
        [--num-samples N] [--sampler ddpm --steps 50] [--no-fuse] [--no-guidance] [--seed 0] [--device auto]

The scene (.obj/.ply/.npy/.npz) is in the PV camera frame (OpenCV axes, metres) unless --world-to-camera is given;
then it is in the world frame (y up, as EgoBody's scene meshes) and mapped to the camera. Outputs: DIR/prediction.npz,
DIR/frames/<stem>{.npz,_overlay.png,_scene.png,.glb} and DIR/index.html (the last line printed).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from egohmr.pipeline.sampling import SamplingOverrides


@dataclass(frozen=True)
class InferSettings:
    """What `egohmr infer` runs, from its flags (files are read by `run_infer`)."""

    image: Path
    scene: Path
    intrinsics: tuple[float, float, float, float]
    """(fx, fy, cx, cy) px."""
    bbox_px: tuple[float, float, float, float]
    """(x1, y1, x2, y2) px."""
    keypoints: Path | None
    world_to_camera: str | None
    """16 numbers or a .npy/.json file (`read_world_to_camera`); None: the scene is in the PV frame."""
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
        help="predict body samples for one egocentric image with its scene",
        description="Run stage 1 -> stage-2 scene crop -> stage 2 on one image and write prediction.npz, an overlay, "
        "a scene view, a .glb and index.html. Default checkpoints: the shipped cpu ones.",
    )
    parser.add_argument("--image", type=Path, required=True, help="egocentric RGB image (any Pillow format)")
    parser.add_argument("--scene", type=Path, required=True, help="scene mesh or points: .obj, .ply, .npy, .npz")
    parser.add_argument("--intrinsics", required=True, help="fx,fy,cx,cy in pixels of the full image")
    parser.add_argument("--bbox", required=True, help="body box x1,y1,x2,y2 in pixels")
    parser.add_argument(
        "--keypoints",
        type=Path,
        default=None,
        help="JSON: 25x3 list (OpenPose BODY_25) or an OpenPose output file (people[0].pose_keypoints_2d)",
    )
    parser.add_argument(
        "--world-to-camera",
        default=None,
        help="4x4 world -> PV transform: 16 comma-separated "
        "numbers (row-major; write --world-to-camera=-0.9,... when the first is negative) or a .npy/.json file; "
        "the scene is then in the world frame (y up)",
    )
    parser.add_argument("--stage1", type=Path, default=None, help="stage-1 checkpoint (ours or official)")
    parser.add_argument("--stage2", type=Path, default=None, help="stage-2 checkpoint (ours or official)")
    # sampling: None keeps the demo preset of the stage-2 checkpoint (egohmr.pipeline.sampling)
    parser.add_argument("--num-samples", type=int, default=None, help="samples (default 5)")
    parser.add_argument("--sampler", default=None, choices=("ddpm", "ddim"), help="sampler (default ddpm)")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: all 50)")
    parser.add_argument("--fuse", action=argparse.BooleanOptionalAction, default=None, help="diffuse_fuse (default on)")
    parser.add_argument(
        "--guidance", action=argparse.BooleanOptionalAction, default=None, help="collision guidance (default on)"
    )
    parser.add_argument("--seed", type=int, default=None, help="sampling seed (default 0)")
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


def infer_settings(args: argparse.Namespace) -> InferSettings:
    """`InferSettings` of the flags (numbers parsed; ValueError naming a malformed flag)."""
    return InferSettings(
        image=args.image,
        scene=args.scene,
        intrinsics=tuple(parse_numbers(args.intrinsics, 4, "--intrinsics")),
        bbox_px=tuple(parse_numbers(args.bbox, 4, "--bbox")),
        keypoints=args.keypoints,
        world_to_camera=args.world_to_camera,
        stage1=args.stage1,
        stage2=args.stage2,
        device=args.device,
        out=args.out,
        sampling=SamplingOverrides(
            num_samples=args.num_samples,
            sampler=args.sampler,
            steps=args.steps,
            fuse=args.fuse,
            guidance=args.guidance,
            seed=args.seed,
        ),
    )


def run_infer(args: argparse.Namespace) -> int:
    """Run `egohmr infer` (module docstring); returns 0."""
    import torch
    from PIL import Image

    from egohmr.cli.demo import limit_cpu_threads
    from egohmr.outputs import frame_stem, write_frame_outputs, write_html_report
    from egohmr.pipeline.core import EgoHMRPipeline, load_scene_points
    from egohmr.pipeline.records import result_record, save_prediction_npz
    from egohmr.pipeline.sampling import num_sampling_steps

    s = infer_settings(args)
    if not s.image.is_file():
        raise FileNotFoundError(f"--image not found: {s.image}")
    limit_cpu_threads(s.device)
    with Image.open(s.image) as im:
        image = np.asarray(im.convert("RGB"))
    keypoints = read_keypoints(s.keypoints) if s.keypoints is not None else None
    world2pv = read_world_to_camera(s.world_to_camera) if s.world_to_camera is not None else None
    print("loading the scene and the models", flush=True)
    scene = load_scene_points(s.scene)
    pipe = EgoHMRPipeline.from_pretrained(s.stage1, s.stage2, device=s.device)
    sampling = pipe.sampling_settings(overrides=s.sampling)
    steps = num_sampling_steps(sampling, pipe.stage2.cfg.schedule)
    print(f"predicting {sampling.num_samples} samples ({sampling.sampler}-{steps})", flush=True)
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
    out.mkdir(parents=True, exist_ok=True)
    save_prediction_npz(out / "prediction.npz", result)
    print(f"writing outputs to {out}", flush=True)
    record = result_record(s.image.name, image, s.intrinsics, s.bbox_px, result)
    write_frame_outputs(record, out, stem=frame_stem(s.image.name, 0), image=image)
    index = write_html_report(out, title=f"EgoHMR: {s.image.name}")
    print(f"done: open {index.resolve()}")
    return 0
