"""The demo as a library function: synthesise a small EgoBody-style test set, run both stages on every frame,
evaluate, and write overlays, scene views, .glb files and index.html (docs/demo.md).

::

    from egohmr.pipeline.demo import DemoSettings, run_demo
    result = run_demo(DemoSettings(out="demo_out"))      # what `egohmr demo` runs
    result.index_html, result.metrics["mpjpe_vis_mm"]

Five phases: synthesise -> load the models -> predict (stage 1 -> stage-2 scene crop -> stage 2) -> evaluate
(`egohmr.evaluate.report.write_report`) -> per-frame outputs. Progress goes to ``on_phase`` (one line per phase;
default: this module's logger) and ``track`` (wraps each per-frame loop, e.g. in a progress bar; default: none).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from egohmr.constants import BBOX_SCALE_UNIT_PX
from egohmr.pipeline.sampling import SamplingOverrides, num_sampling_steps

if TYPE_CHECKING:  # kept out of the import: `egohmr demo --help` must not load torch
    from egohmr.stage2.config import Stage2TestConfig

__all__ = ["DEFAULT_OUT", "DemoResult", "DemoSettings", "run_demo", "tiny_settings", "write_highlights"]

logger = logging.getLogger(__name__)

DEFAULT_OUT = Path("egohmr_demo_output")
MARKER = ".egohmr_demo"
SYNTH_SEED_OFFSET = 1000
"""The demo's rooms and people come from synth seed ``1000 + seed``: the shipped models were trained on seed 0."""
HIGHLIGHT_METRIC = "mpjpe_mm"
"""`highlights.png` shows the frames with the lowest (success) and highest (failure) value of this per-frame metric
(pelvis-aligned MPJPE of all joints, mean over the samples): a rule fixed in code, not a choice made after looking."""
HIGHLIGHTS_FILE = "highlights.png"

PhaseFn = Callable[[str], None]
TrackFn = Callable[[range, str], Iterable[int]]
"""``track(frames, description)`` -> the same frame indices (e.g. wrapped in a progress bar)."""


@dataclass(frozen=True)
class DemoSettings:
    """Everything `run_demo` does (defaults = `egohmr demo` without arguments)."""

    out: Path = DEFAULT_OUT
    """Output folder; a non-empty folder not written by the demo is refused."""
    frames: int = 8
    """Synthetic frames over all recordings."""
    recordings: int = 2
    """Synthetic recordings (one room)."""
    seed: int = 0
    """Seed of the synthetic data (synth seed ``1000 + seed``)."""
    device: str = "auto"
    """``auto``, ``cpu`` or ``cuda``."""
    width: int = 1920
    """Synthetic image width, px."""
    height: int = 1080
    """Synthetic image height, px."""
    stage1: str | None = None
    """Stage-1 checkpoint; None: the shipped cpu checkpoint."""
    stage2: str | None = None
    """Stage-2 checkpoint; None: the shipped cpu checkpoint."""
    sampling: SamplingOverrides = field(default_factory=SamplingOverrides)
    """Choices on top of the demo preset of the stage-2 checkpoint (`egohmr.pipeline.sampling`); its seed seeds
    the sampling generator."""


@dataclass(frozen=True)
class DemoResult:
    """What a demo run produced.

    Attributes:
        index_html: the report page. out: the output folder.
        metrics: {metric name: value} of metrics.json (plus ``seconds_per_image``).
        num_frames: frames evaluated. num_samples: samples per frame.
        seconds: wall time of the whole run.
    """

    index_html: Path
    out: Path
    metrics: dict[str, float]
    num_frames: int
    num_samples: int
    seconds: float


@dataclass(frozen=True)
class _DemoFrame:
    """One annotated frame: image name, body box (x1, y1, x2, y2) px and OpenPose (25, 3) keypoints."""

    name: str
    bbox_px: tuple[float, float, float, float]
    keypoints_op25: np.ndarray


def tiny_settings(base: DemoSettings) -> DemoSettings:
    """A seconds-long configuration: 1 recording x 2 frames at 320x180, 2 samples, DDIM 5 steps."""
    from dataclasses import replace

    sampling = replace(base.sampling, num_samples=2, sampler="ddim", steps=5)
    return replace(base, frames=2, recordings=1, width=320, height=180, sampling=sampling)


def _check(settings: DemoSettings) -> None:
    s = settings
    samples = s.sampling.num_samples
    if s.frames < 1 or s.recordings < 1 or (samples is not None and samples < 1):
        raise ValueError(
            f"--frames, --num-samples and recordings must be >= 1, got {s.frames}, {samples}, {s.recordings}"
        )
    if s.frames < s.recordings:
        raise ValueError(f"--frames ({s.frames}) must be >= the number of recordings ({s.recordings})")


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


def _synthesise(settings: DemoSettings, data: Path) -> None:
    from egohmr.synth.generate import SynthConfig, generate_dataset

    s = settings
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


def _annotated_frames(data: Path) -> tuple[Any, list[_DemoFrame]]:
    """Every annotated frame of every split, in split order: (`Annotations` of all of them, their boxes)."""
    from egohmr.data import egobody_format as ef
    from egohmr.evaluate.ground_truth import load_annotations

    parts, frames = [], []
    for split in ef.SPLITS:
        path = ef.annotation_path(data, split)
        if not path.is_file():
            continue
        ann = load_annotations(path)
        raw = ef.read_annotation_npz(path)
        for i in range(ann.num_frames):
            center, side = (
                raw["center"][i],
                float(raw["scale"][i]) * BBOX_SCALE_UNIT_PX,
            )  # box side max(w, h); enlarged later
            bbox = (center[0] - side / 2, center[1] - side / 2, center[0] + side / 2, center[1] + side / 2)
            frames.append(_DemoFrame(str(ann.imgname[i]), bbox, raw["valid_keypoints"][i]))
        if ann.num_frames:
            parts.append(ann)
    annotations = type(parts[0])(
        **{f: np.concatenate([getattr(p, f) for p in parts]) for f in parts[0].__dataclass_fields__}
    )
    return annotations, frames


def _predict(
    pipe, data: Path, annotations, frames: list[_DemoFrame], sampling: Stage2TestConfig, track: TrackFn
) -> tuple[list, list]:
    """Both stages on every frame: (`EgoHMRResult` per frame, (image, intrinsics) per frame)."""
    import torch
    from PIL import Image

    from egohmr.data import egobody_format as ef
    from egohmr.data.scene_points import read_obj_vertices
    from egohmr.evaluate.scene_cubes import SceneCubeSource

    transforms = SceneCubeSource(data, data, ef.SPLITS[0])  # its scene2pv reads the calibration files
    scene_of = ef.recording_to_scene(ef.data_info_path(data))
    meshes: dict[str, np.ndarray] = {}
    generator = torch.Generator().manual_seed(sampling.seed)
    results, inputs = [], []
    for i in track(range(len(frames)), "frames"):
        frame = frames[i]
        with Image.open(data / frame.name) as im:
            image = np.asarray(im.convert("RGB"))
        scene = scene_of[ef.parse_imgname(frame.name).recording]
        if scene not in meshes:
            meshes[scene] = read_obj_vertices(ef.scene_mesh_path(data, scene))
        intr = (annotations.fx[i], annotations.fy[i], annotations.cx[i], annotations.cy[i])
        result = pipe(
            image,
            intr,
            frame.bbox_px,
            meshes[scene],
            world2pv=transforms.scene2pv(frame.name),
            keypoints_op25=frame.keypoints_op25,
            settings=sampling,
            generator=generator,
        )
        results.append(result)
        inputs.append((image, intr))
    return results, inputs


def _evaluate(pipe, settings: DemoSettings, sampling: Stage2TestConfig, annotations, results: list, out: Path):
    """results.npz, the evaluation and its reports; returns (`EvaluationOutput`, metrics, `BodyModels`)."""
    from egohmr.evaluate.pipeline import BodyModels, evaluate_results
    from egohmr.evaluate.report import write_report
    from egohmr.evaluate.results_io import PredictionResults, write_results
    from egohmr.evaluate.settings import EvalSettings

    s = settings
    n = len(results)
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
    seconds = sum(sum(r.seconds.values()) for r in results)
    metrics = dict(evaluation.metrics) | {"seconds_per_image": seconds / n}
    info = {
        "command": "egohmr demo",
        "mode": "corrected",
        "results_file": str(out / "results.npz"),
        "num_frames": n,
        "num_samples": sampling.num_samples,
        "sampler": f"{sampling.sampler}-{num_sampling_steps(sampling, pipe.stage2.cfg.schedule)}",
        "diffuse_fuse": sampling.diffuse_fuse,
        "guidance": sampling.guidance.enabled,
        "seed": sampling.seed,
        "synth_seed": SYNTH_SEED_OFFSET + s.seed,
        "image_size_px": [s.width, s.height],
        "device": str(pipe.device),
        **{f"checkpoint_{k}": v for k, v in pipe.models.sources.items()},
    }
    write_report(out, metrics, info, evaluation.stats, evaluation.imgname)
    return evaluation, metrics, models


def _write_frame_outputs(annotations, frames, inputs, results, evaluation, models, out: Path, track: TrackFn) -> Path:
    """Per-frame overlays, scene views, .glb files and records, then index.html; returns its path."""
    import torch

    from egohmr.evaluate.ground_truth import gt_bodies
    from egohmr.evaluate.report import per_frame_table
    from egohmr.outputs import frame_output_paths, frame_stem, write_frame_outputs, write_html_report
    from egohmr.pipeline.records import result_record

    n = len(frames)
    header, rows = per_frame_table(evaluation.stats, evaluation.imgname)
    stems = [frame_stem(frames[i].name, i) for i in range(n)]
    _, gt_verts = gt_bodies(annotations, np.arange(n), {"male": models.male, "female": models.female}, torch.float32)
    for i in track(range(n), "outputs"):
        image, intr = inputs[i]
        name = frames[i].name
        frame_metrics = {k: v for k, v in zip(header[2:], rows[i][2:], strict=True) if isinstance(v, int | float)}
        record = result_record(name, image, intr, frames[i].bbox_px, results[i], gt_verts[i], frame_metrics)
        write_frame_outputs(record, out, stem=stems[i], image=image)
    column = header.index(HIGHLIGHT_METRIC)
    metric = [float(row[column]) if isinstance(row[column], int | float) else np.nan for row in rows]
    write_highlights(out / HIGHLIGHTS_FILE, [frame_output_paths(out, stem).overlay for stem in stems], metric)
    return write_html_report(out, title="EgoHMR demo (synthetic EgoBody, shipped cpu checkpoints)")


def write_highlights(path: Path, overlays: list[Path], metric_mm: list[float]) -> Path:
    """Stack the overlay strips of the best and the worst frame by `metric_mm` (one strip when they coincide), each
    labelled with its rank, frame index and value; writes `path` atomically and returns it."""
    from PIL import Image

    from egohmr.outputs.overlay import label_panel
    from egohmr.outputs.writer import write_png

    values = np.asarray(metric_mm, dtype=np.float64)
    if not np.isfinite(values).any():
        raise ValueError(f"{HIGHLIGHT_METRIC}: no finite per-frame value to choose highlights from")
    best, worst = int(np.nanargmin(values)), int(np.nanargmax(values))
    picks = {best: "success: lowest", worst: "failure: highest"} if best != worst else {best: "the only frame:"}
    strips = []
    for i, rank in picks.items():
        with Image.open(overlays[i]) as im:
            strip = np.asarray(im.convert("RGB"))
        text = f"{rank} {HIGHLIGHT_METRIC} of {len(values)} frames: frame {i}, {values[i]:.0f} mm"
        strips.append(label_panel(np.pad(strip, ((24, 0), (0, 0), (0, 0)), constant_values=255), text))
    width = max(s.shape[1] for s in strips)
    rows = [np.pad(s, ((0, 8), (0, width - s.shape[1]), (0, 0)), constant_values=255) for s in strips]
    return write_png(path, np.concatenate(rows, axis=0)[:-8])


def _no_bar(frames: range, _description: str) -> Iterable[int]:
    return frames


def run_demo(settings: DemoSettings, on_phase: PhaseFn | None = None, track: TrackFn | None = None) -> DemoResult:
    """Run the demo (module docstring).

    Args:
        settings: `DemoSettings`.
        on_phase: called with one line at the start of each phase; None: logged at INFO.
        track: wraps each per-frame loop; None: no progress display.

    Returns:
        `DemoResult`.

    Raises:
        ValueError: bad settings or an ``out`` folder that is not the demo's.
    """
    from egohmr.pipeline.core import EgoHMRPipeline

    phase = on_phase if on_phase is not None else logger.info
    track = track if track is not None else _no_bar
    s = settings
    _check(s)
    out = Path(s.out)
    _prepare_out(out)
    t_start = time.perf_counter()

    data = out / "dataset"
    phase(f"[1/5] synthesising {s.frames} frames ({s.recordings} recording(s), {s.width}x{s.height}) in {data}")
    _synthesise(s, data)

    phase("[2/5] loading the models" + ("" if s.stage1 or s.stage2 else " (shipped cpu checkpoints)"))
    pipe = EgoHMRPipeline.from_pretrained(s.stage1, s.stage2, device=s.device)
    logger.info("models: %s on %s", pipe.models.sources, pipe.device)
    sampling = pipe.sampling_settings(overrides=s.sampling)
    annotations, frames = _annotated_frames(data)
    n = len(frames)

    steps = num_sampling_steps(sampling, pipe.stage2.cfg.schedule)
    phase(
        f"[3/5] stage 1 -> stage-2 scene crop -> stage 2 ({sampling.num_samples} samples, {sampling.sampler}-{steps}"
        f"{', diffuse_fuse' if sampling.diffuse_fuse else ''}{', guidance' if sampling.guidance.enabled else ''}) "
        f"on {n} frames"
    )
    results, inputs = _predict(pipe, data, annotations, frames, sampling, track)

    phase(f"[4/5] evaluating {n} frames (metrics.json, metrics.md, per_frame.csv, plots)")
    evaluation, metrics, models = _evaluate(pipe, s, sampling, annotations, results, out)

    phase(f"[5/5] writing overlays, scene views and .glb files of {n} frames to {out / 'frames'}")
    index = _write_frame_outputs(annotations, frames, inputs, results, evaluation, models, out, track)
    return DemoResult(
        index_html=index,
        out=out,
        metrics=metrics,
        num_frames=n,
        num_samples=sampling.num_samples,
        seconds=time.perf_counter() - t_start,
    )
