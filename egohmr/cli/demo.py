"""`egohmr demo`: synthesise a small EgoBody-style test set, run both stages with the shipped cpu checkpoints,
evaluate, and write overlays, scene views, .glb files and index.html (docs/demo.md).

    egohmr demo [--out DIR] [--frames N] [--samples S] [--seed 0] [--device auto]

The last line printed is the path of ``index.html``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_OUT = Path("egohmr_demo_output")
MARKER = ".egohmr_demo"
SYNTH_SEED_OFFSET = 1000
"""The demo's rooms and people come from synth seed ``1000 + --seed``: the shipped models were trained on seed 0."""


@dataclass(frozen=True)
class DemoSettings:
    """Everything `run_demo` does (defaults = `egohmr demo` without arguments)."""

    out: Path = DEFAULT_OUT
    frames: int = 8
    recordings: int = 2
    samples: int = 5
    seed: int = 0
    device: str = "auto"
    width: int = 1920
    height: int = 1080
    sampler: str = "ddpm"
    steps: int = 50
    fuse: bool = True
    guidance: bool = True
    stage1: str | None = None
    stage2: str | None = None
    progress: bool = True


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `demo` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="end-to-end demo on a small synthetic test set with the shipped cpu checkpoints",
        description="Synthesise a few EgoBody-style frames, run stage 1 -> stage-2 scene crop -> stage 2 (several "
        "samples, diffuse_fuse, collision guidance) with the shipped cpu checkpoints, evaluate, and write overlays, "
        "scene views, .glb files and index.html. Takes a few minutes on a CPU.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default ./egohmr_demo_output)")
    parser.add_argument("--frames", type=int, default=8, help="synthetic frames, over all recordings (default 8)")
    parser.add_argument("--samples", type=int, default=5, help="stage-2 samples per frame (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data and of the sampling")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="torch device")
    parser.add_argument("--stage1", default=None, help="stage-1 checkpoint (default: shipped cpu checkpoint)")
    parser.add_argument("--stage2", default=None, help="stage-2 checkpoint (default: shipped cpu checkpoint)")
    # hidden: small and fast runs (tests)
    parser.add_argument("--recordings", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sampler", default="ddpm", choices=("ddpm", "ddim"), help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=50, help=argparse.SUPPRESS)
    parser.set_defaults(func=_main)
    return parser


def limit_cpu_threads(device: str) -> None:
    """One torch thread on the CPU unless OMP_NUM_THREADS is set: sampling runs many small ops, for which extra
    threads mostly synchronise (measured on the 2-core machine under load: 5.7 s/frame with 1 thread, 22-44 with 2)."""
    import os

    import torch

    if "OMP_NUM_THREADS" not in os.environ and (device == "cpu" or not torch.cuda.is_available()):
        torch.set_num_threads(1)


def _main(args: argparse.Namespace) -> int:
    limit_cpu_threads(args.device)
    settings = DemoSettings(
        out=args.out,
        frames=args.frames,
        recordings=args.recordings,
        samples=args.samples,
        seed=args.seed,
        device=args.device,
        sampler=args.sampler,
        steps=args.steps,
        stage1=args.stage1,
        stage2=args.stage2,
    )
    if args.tiny:
        settings = tiny_settings(settings)
    index = run_demo(settings)
    print(f"demo done: open {index.resolve()}")
    return 0


def tiny_settings(base: DemoSettings) -> DemoSettings:
    """A seconds-long configuration: 1 recording x 2 frames at 320x180, 2 samples, DDIM 5 steps."""
    from dataclasses import replace

    return replace(base, frames=2, recordings=1, width=320, height=180, samples=2, sampler="ddim", steps=5)


def _prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ValueError(f"--out {out} is a non-empty folder not written by egohmr demo; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by egohmr demo; the folder may be overwritten by the next demo run\n")
    for sub in ("dataset", "frames"):
        if (out / sub).is_dir():
            shutil.rmtree(out / sub)


def _phase(text: str) -> None:
    print(text, flush=True)


def run_demo(settings: DemoSettings) -> Path:
    """Run the demo (module docstring); returns the path of ``index.html``.

    Raises:
        ValueError: bad settings or an --out folder that is not the demo's.
    """
    import numpy as np
    import torch
    from PIL import Image
    from tqdm import tqdm

    from egohmr.data import egobody_format as ef
    from egohmr.data.scene_points import read_obj_vertices
    from egohmr.evaluate.ground_truth import gt_bodies, load_annotations
    from egohmr.evaluate.pipeline import BodyModels, evaluate_results
    from egohmr.evaluate.plots import write_plots
    from egohmr.evaluate.report import per_frame_table, write_metrics_json, write_metrics_md, write_per_frame_csv
    from egohmr.evaluate.results_io import PredictionResults, write_results
    from egohmr.evaluate.scene_cubes import SceneCubeSource
    from egohmr.evaluate.settings import EvalSettings
    from egohmr.outputs import frame_stem, write_frame_outputs, write_html_report
    from egohmr.pipeline.core import EgoHMRPipeline
    from egohmr.pipeline.records import result_record
    from egohmr.synth.generate import SynthConfig, generate_dataset

    s = settings
    if s.frames < 1 or s.recordings < 1 or s.samples < 1:
        raise ValueError(
            f"--frames, --samples and recordings must be >= 1, got {s.frames}, {s.samples}, {s.recordings}"
        )
    if s.frames < s.recordings:
        raise ValueError(f"--frames ({s.frames}) must be >= the number of recordings ({s.recordings})")
    out = Path(s.out)
    _prepare_out(out)
    t_start = time.perf_counter()

    data = out / "dataset"
    _phase(f"[1/5] synthesising {s.frames} frames ({s.recordings} recording(s), {s.width}x{s.height}) in {data}")
    generate_dataset(
        SynthConfig(
            out=data,
            seed=SYNTH_SEED_OFFSET + s.seed,
            num_scenes=1,
            num_recordings=s.recordings,
            num_frames=s.frames,
            width=s.width,
            height=s.height,
            workers=1,
        )
    )

    _phase("[2/5] loading the models" + ("" if s.stage1 or s.stage2 else " (shipped cpu checkpoints)"))
    pipe = EgoHMRPipeline.from_pretrained(s.stage1, s.stage2, device=s.device)
    logger.info("models: %s on %s", pipe.models.sources, pipe.device)

    # every annotated frame of every split, in split order
    parts, frames = [], []
    for split in ef.SPLITS:
        path = ef.annotation_path(data, split)
        if not path.is_file():
            continue
        ann = load_annotations(path)
        raw = ef.read_annotation_npz(path)
        if ann.num_frames == 0:
            continue
        parts.append(ann)
        for i in range(ann.num_frames):
            frames.append((split, raw["center"][i], float(raw["scale"][i]), raw["valid_keypoints"][i]))
    annotations = type(parts[0])(
        **{f: np.concatenate([getattr(p, f) for p in parts]) for f in parts[0].__dataclass_fields__}
    )
    n = annotations.num_frames
    transforms = SceneCubeSource(data, data, ef.SPLITS[0])  # its scene2pv reads the calibration files
    scene_of = ef.recording_to_scene(ef.data_info_path(data))
    meshes: dict[str, np.ndarray] = {}

    _phase(
        f"[3/5] stage 1 -> stage-2 scene crop -> stage 2 ({s.samples} samples, {s.sampler}-{s.steps}"
        f"{', diffuse_fuse' if s.fuse else ''}{', guidance' if s.guidance else ''}) on {n} frames"
    )
    generator = torch.Generator().manual_seed(s.seed)
    results, inputs = [], []
    for i in tqdm(range(n), desc="frames", unit="frame", disable=not s.progress):
        name = str(annotations.imgname[i])
        _, center, scale, keypoints = frames[i]
        side = scale * 200.0  # the synthetic box: centre and side max(w, h) (the pipeline enlarges it by 1.2)
        bbox = (center[0] - side / 2, center[1] - side / 2, center[0] + side / 2, center[1] + side / 2)
        with Image.open(data / name) as im:
            image = np.asarray(im.convert("RGB"))
        scene = scene_of[ef.parse_imgname(name).recording]
        if scene not in meshes:
            meshes[scene] = read_obj_vertices(ef.scene_mesh_path(data, scene))
        intr = (annotations.fx[i], annotations.fy[i], annotations.cx[i], annotations.cy[i])
        res = pipe(
            image,
            intr,
            bbox,
            meshes[scene],
            world2pv=transforms.scene2pv(name),
            keypoints_op25=keypoints,
            num_samples=s.samples,
            sampler=s.sampler,
            steps=s.steps,
            fuse=s.fuse,
            guidance=s.guidance,
            generator=generator,
        )
        results.append(res)
        inputs.append((name, image, intr, bbox))

    _phase(f"[4/5] evaluating {n} frames (metrics.json, metrics.md, per_frame.csv, plots)")
    seconds = sum(sum(r.seconds.values()) for r in results)
    preds = PredictionResults(
        pred_betas=np.stack([r.betas for r in results]),
        pred_global_orient_rotmat=np.stack([r.global_orient_rotmat_pv for r in results]),
        pred_body_pose_rotmat=np.stack([r.body_pose_rotmat for r in results]),
        pred_transl_pv=np.stack([r.transl_pv for r in results]),
        imgname=annotations.imgname.copy(),
        metadata={"source": "egohmr demo", **pipe.models.sources},
    )
    write_results(out / "results.npz", preds)
    bodies = pipe.stage2.bodies()
    models = BodyModels(bodies["neutral"].cpu(), bodies["male"].cpu(), bodies["female"].cpu())
    evaluation = evaluate_results(
        preds,
        annotations,
        models,
        EvalSettings(image_size_px=(s.width, s.height)),
        scene_points=lambda row, _name: results[row].scene_points_pv.astype(np.float64),
    )
    metrics = dict(evaluation.metrics) | {"seconds_per_image": seconds / n}
    info = {
        "command": "egohmr demo",
        "mode": "corrected",
        "results_file": str(out / "results.npz"),
        "num_frames": n,
        "num_samples": s.samples,
        "sampler": f"{s.sampler}-{s.steps}",
        "diffuse_fuse": s.fuse,
        "guidance": s.guidance,
        "seed": s.seed,
        "synth_seed": SYNTH_SEED_OFFSET + s.seed,
        "image_size_px": [s.width, s.height],
        "device": str(pipe.device),
        **{f"checkpoint_{k}": v for k, v in pipe.models.sources.items()},
    }
    write_metrics_json(out / "metrics.json", metrics, info)
    write_metrics_md(out / "metrics.md", metrics, info)
    write_per_frame_csv(out / "per_frame.csv", evaluation.stats, evaluation.imgname)
    write_plots(evaluation.stats, out)
    header, rows = per_frame_table(evaluation.stats, evaluation.imgname)

    _phase(f"[5/5] writing overlays, scene views and .glb files of {n} frames to {out / 'frames'}")
    _, gt_verts = gt_bodies(annotations, np.arange(n), {"male": models.male, "female": models.female}, torch.float32)
    for i in tqdm(range(n), desc="outputs", unit="frame", disable=not s.progress):
        name, image, intr, bbox = inputs[i]
        frame_metrics = {k: v for k, v in zip(header[2:], rows[i][2:], strict=True) if isinstance(v, int | float)}
        record = result_record(name, image, intr, bbox, results[i], gt_verts[i], frame_metrics)
        write_frame_outputs(record, out, stem=frame_stem(name, i), image=image)
    index = write_html_report(out, title="EgoHMR demo (synthetic EgoBody, shipped cpu checkpoints)")
    m = metrics
    _phase(
        f"{n} frames x {s.samples} samples in {time.perf_counter() - t_start:.0f} s: MPJPE vis "
        f"{m.get('mpjpe_vis_mm', float('nan')):.1f} mm, invis {m.get('mpjpe_invis_mm', float('nan')):.1f} mm, "
        f"collision {m.get('collision_ratio', float('nan')):.3f}, {m['seconds_per_image']:.1f} s/image"
    )
    return index
