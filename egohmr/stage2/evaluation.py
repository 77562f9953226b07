"""Stage-2 evaluation: sample S poses per test image, write the results files, compute the metrics.

`evaluate(loaded, run, settings)` samples a loaded checkpoint (`egohmr.stage2.checkpoint.load_with_source`: ours or
the official ``best_model_mpjpe_vis.pt``) with the sampling settings `settings` (`Stage2TestConfig`) on the frames
described by `run` (`Stage2TestRun`).

Sharding and resume: the test frames are cut into chunks of ``run.chunk_size`` frames; chunk k belongs to rank
k mod world size (torchrun's RANK / WORLD_SIZE) and is written atomically to ``OUT/chunks/chunk_<k>.pt``. The noise
of every frame is drawn from its own stream (``seed`` and the image file stem,
`egohmr.stage2.pipeline.draw_frame_noise`, the same as ``egohmr infer``), so the result depends neither on the number
of processes nor on the chunk or batch sizes. A killed run started again with the same settings and inputs skips
finished chunks: the folder stores an `egohmr.jobs` manifest (the settings, digests of the checkpoint, annotations,
stage-1 results and scene cubes) and refuses a run whose manifest differs, unless ``overwrite``. When every chunk
exists, rank 0 merges them into ``OUT/results.npz`` (ours), ``OUT/results_seed_<seed>.pkl`` (official layout,
collision/contact filled in by the evaluation) and ``OUT/metrics.json`` / ``metrics.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Subset, default_collate

from egohmr.body.identity import body_model_id
from egohmr.data.dataset import EgoBodyDataOptions, EgoBodyDataset
from egohmr.data.egobody_format import annotation_path
from egohmr.diffusion.guidance import CollisionGuidance
from egohmr.diffusion.schedule import space_timesteps
from egohmr.diffusion.schedulers import DDIMScheduler, DDPMScheduler, build_scheduler
from egohmr.evaluate.ground_truth import load_annotations
from egohmr.evaluate.inside import get_inside_test
from egohmr.evaluate.pipeline import BodyModels, evaluate_results
from egohmr.evaluate.report import write_report
from egohmr.evaluate.results_io import PredictionResults, write_official_stage2, write_results
from egohmr.evaluate.scene_cubes import SceneCubeSource
from egohmr.evaluate.settings import EvalSettings
from egohmr.files import atomic_torch_save
from egohmr.jobs import JobManifest, file_digest, folder_digest, job_output_dir, optional_digest
from egohmr.preprocess.sampling import RANDOM_STREAMS, frame_key
from egohmr.stage2.batching import GIB, RunPeak, memory_capped_batch
from egohmr.stage2.config import Stage2TestConfig
from egohmr.stage2.model import EgoHMRModel
from egohmr.stage2.pipeline import build_guidance, draw_frame_noise, predict_samples
from egohmr.train.data import to_device
from egohmr.train.distributed import resolve_device
from egohmr.train.inference_checkpoint import LoadedStage

__all__ = [
    "TRANSLATION_FIELDS",
    "Stage2TestResult",
    "Stage2TestRun",
    "evaluate",
    "num_steps",
    "stage2_test_manifest",
]

logger = logging.getLogger(__name__)

TRANSLATION_FIELDS = {"stage1": ("transl_stage1_pv", "transl_stage1"), "gt": ("transl_pv", "transl_pv")}
"""`Stage2TestRun.translation` -> (batch field, `EgoBodyDataset` attribute) of the translation (PV frame, metres) that
conditions stage 2 and places its bodies."""

Chunk = tuple[int, int, int]
"""(chunk index k, first frame, end frame (exclusive))."""


@dataclasses.dataclass(frozen=True)
class Stage2TestRun:
    """What to evaluate a stage-2 checkpoint on, and where the outputs go (sampling is in `Stage2TestConfig`)."""

    dataset_root: Path
    """EgoBody root."""
    scene_dir: Path
    """Stage-2 cubes around the stage-1 translation (``egohmr preprocess scene-s2-test``)."""
    stage1_results: Path
    """Stage-1 ``results.pkl`` of the split."""
    out_dir: Path
    """Output folder (chunks, results, metrics)."""
    split: str = "test"
    """Annotation split."""
    translation: Literal["stage1", "gt"] = "stage1"
    """Translation that conditions stage 2 and places its bodies: stage1 (official) or gt (diagnostic)."""
    chunk_size: int = 64
    """Frames per chunk file (resume granularity)."""
    num_workers: int = 0
    """DataLoader workers."""
    device: str = "auto"
    """"auto", "cpu" or "cuda" (`egohmr.train.distributed.resolve_device`)."""
    body: str | None = None
    """Body model source for guidance and metrics (None: the checkpoint's ``model.body_source``)."""
    metric_mode: Literal["corrected", "official"] = "corrected"
    """`EvalSettings.mode`."""
    inside_test: str = "fast_winding_number"
    """Inside test of the collision metrics (`egohmr.evaluate.inside.get_inside_test`)."""
    collision: bool = True
    """Compute the collision/contact metrics (needs the scene cubes)."""
    overwrite: bool = False
    """Recompute: remove the outputs of a run of other settings or inputs instead of refusing them."""


@dataclasses.dataclass
class Stage2TestResult:
    """Outcome of `evaluate` (metrics on rank 0 only; other ranks only write their chunks)."""

    out_dir: Path
    metrics: dict[str, float] | None
    num_frames: int


def num_steps(settings: Stage2TestConfig, num_train_timesteps: int) -> int:
    """Denoising steps of the settings' respacing (T for ``""``)."""
    return len(space_timesteps(num_train_timesteps, settings.spacing))


def _rank_world() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _record(loaded: LoadedStage, run: Stage2TestRun, settings: Stage2TestConfig) -> dict[str, Any]:
    """The settings of a run as stored with its chunks and results (a resumed run must match them)."""
    return {
        "checkpoint": str(Path(loaded.path).resolve()),
        "split": run.split,
        "num_samples": settings.num_samples,
        "sampler": settings.sampler,
        "steps": num_steps(settings, loaded.cfg.schedule.num_train_timesteps),
        "spacing": settings.spacing,
        "eta": settings.eta,
        "fuse": settings.diffuse_fuse,
        "guidance": settings.guidance.enabled,
        "guidance_weight": settings.guidance.weight,
        "guidance_max_timestep": settings.guidance.max_timestep,
        "return_mode": settings.return_mode,
        "mode": settings.mode,
        "seed": settings.seed,
        "chunk_size": run.chunk_size,
        "stage1_results": str(run.stage1_results),
        "scene_dir": str(run.scene_dir),
        "translation": run.translation,
        "visible_noise_scale": settings.visible_noise_scale,
        "random_streams": RANDOM_STREAMS,
    }


def stage2_test_manifest(loaded: LoadedStage, run: Stage2TestRun, record: dict[str, Any]) -> JobManifest:
    """The `egohmr.jobs` manifest of a stage-2 test: the run settings `record` and digests of the checkpoint, the
    annotations, the stage-1 results and the scene cubes (their preprocessing manifest, or their file listing)."""
    inputs = {
        "checkpoint": file_digest(loaded.path),
        "annotations": file_digest(annotation_path(run.dataset_root, run.split)),
        "stage1_results": optional_digest(run.stage1_results),
        "scene_dir": folder_digest(Path(run.scene_dir) / run.split, "scene-s2-test"),
    }
    return JobManifest("test-stage2", record, inputs)


def _output_files(out: Path) -> list[Path]:
    """What a stage-2 test writes into `out` (removed by ``overwrite``)."""
    return [out / name for name in ("chunks", "results.npz", "metrics.json", "metrics.md")] + sorted(
        out.glob("results_seed_*.pkl")
    )


@contextlib.contextmanager
def _claimed_output(run: Stage2TestRun, manifest: JobManifest, rank: int, world: int) -> Iterator[None]:
    """Rank 0 locks the output folder, checks its manifest (under ``overwrite``: removes the old outputs) and holds
    the lock for the run; the other ranks start once it has, and stop with its error if it refused the folder."""
    out = Path(run.out_dir)
    with contextlib.ExitStack() as stack:
        error: Exception | None = None
        if rank == 0:
            try:
                stack.enter_context(job_output_dir(out, manifest, run.overwrite, _output_files(out)))
            except Exception as exc:  # passed on to the other ranks, then raised
                error = exc
        if world > 1:
            if not dist.is_initialized():
                dist.init_process_group("gloo")
            shared = [None if error is None else f"{type(error).__name__}: {error}"]
            dist.broadcast_object_list(shared, src=0)
            if rank != 0 and shared[0] is not None:
                raise RuntimeError(f"rank 0 could not claim {out}: {shared[0]}")
        if error is not None:
            raise error
        (out / "chunks").mkdir(parents=True, exist_ok=True)
        yield


def _test_dataset(run: Stage2TestRun, loaded: LoadedStage) -> EgoBodyDataset:
    return EgoBodyDataset(
        EgoBodyDataOptions(
            root=str(run.dataset_root),
            split=run.split,  # type: ignore[arg-type]
            stage=2,
            scene_dir=str(run.scene_dir),
            stage1_results=str(run.stage1_results),
            num_scene_points=loaded.cfg.data.num_scene_points_file,
            pelvis_vis_loosen=loaded.cfg.data.pelvis_vis_loosen_test,
            load_images=True,
        )
    )


def _sample_chunk(
    model: EgoHMRModel,
    frames: Subset,
    run: Stage2TestRun,
    settings: Stage2TestConfig,
    scheduler: DDPMScheduler | DDIMScheduler,
    guidance: CollisionGuidance | None,
    device: torch.device,
    images_per_batch: int,
) -> dict[str, Any]:
    """Samples of one chunk: betas, global orientation, body pose (float32, frame-major) and the sampling time.

    The noise of every frame comes from its own stream (`draw_frame_noise`: ``settings.seed`` and the image file
    stem), as in ``egohmr infer``, so the samples do not depend on ``images_per_batch``."""
    loader = DataLoader(frames, batch_size=images_per_batch, num_workers=run.num_workers)
    parts: dict[str, list[torch.Tensor]] = {"betas": [], "go": [], "bp": []}
    seconds = 0.0
    keys = [frame_key(frames.dataset.imgnames[i]) for i in frames.indices]  # loader order
    done = 0
    for batch in loader:
        batch = to_device(batch, device)
        tic = time.perf_counter()
        batch_keys = keys[done : done + len(batch[TRANSLATION_FIELDS[run.translation][0]])]
        done += len(batch_keys)
        noise = draw_frame_noise(settings.seed, batch_keys, settings.num_samples, scheduler, device)
        samples = predict_samples(
            model,
            batch,
            batch[TRANSLATION_FIELDS[run.translation][0]],
            settings.num_samples,
            scheduler,
            fuse=settings.diffuse_fuse,
            guidance=guidance,
            noise=noise,
            return_mode=settings.return_mode,
            mode=settings.mode,
            visible_noise_scale=settings.visible_noise_scale,
        )
        seconds += time.perf_counter() - tic
        parts["betas"].append(samples.betas.cpu())
        parts["go"].append(samples.global_orient_rotmat.cpu())
        parts["bp"].append(samples.body_pose_rotmat.cpu())
    return {key: torch.cat(value).float() for key, value in parts.items()} | {"seconds": seconds}


def _images_per_batch(
    model: EgoHMRModel,
    frame: dict[str, Any],
    run: Stage2TestRun,
    settings: Stage2TestConfig,
    scheduler: DDPMScheduler | DDIMScheduler,
    guidance: CollisionGuidance | None,
    device: torch.device,
) -> int:
    """``settings.batch_size``, or with ``settings.max_memory_gb`` the most images within the cap, measured on
    ``frame`` (one dataset item; `egohmr.stage2.batching.memory_capped_batch`)."""
    if settings.max_memory_gb is None:
        return settings.batch_size
    example = to_device(default_collate([frame]), device)
    transl = example[TRANSLATION_FIELDS[run.translation][0]]
    return memory_capped_batch(model, example, transl, settings, scheduler, guidance)


def _sample_my_chunks(
    loaded: LoadedStage,
    run: Stage2TestRun,
    settings: Stage2TestConfig,
    dataset: EgoBodyDataset,
    chunks: list[Chunk],
    rank: int,
    world: int,
) -> None:
    """Sample every unfinished chunk of this rank and write it atomically to ``chunks/chunk_<k>.pt``."""
    device = resolve_device(run.device, int(os.environ.get("LOCAL_RANK", "0")), setting="--device")  # type: ignore[arg-type]
    model: EgoHMRModel = loaded.model.to(device).eval()
    if run.body is not None:
        from egohmr.body import load_body_model

        model.set_body_models(*(load_body_model(run.body, g) for g in ("neutral", "male", "female")))
    scheduler = build_scheduler(loaded.cfg.schedule, settings.sampler, settings.spacing, settings.eta)
    guidance = build_guidance(model, settings)
    chunk_dir = Path(run.out_dir) / "chunks"
    todo = [c for c in chunks if c[0] % world == rank and not (chunk_dir / f"chunk_{c[0]:05d}.pt").is_file()]
    if not todo:
        return
    images = _images_per_batch(model, dataset[todo[0][1]], run, settings, scheduler, guidance, device)
    logger.info("rank %d: %d images per batch", rank, images)
    peak = RunPeak(device)
    peak.start()
    for k, start, stop in todo:
        path = chunk_dir / f"chunk_{k:05d}.pt"
        started = time.time()
        frames = Subset(dataset, range(start, stop))
        data = _sample_chunk(model, frames, run, settings, scheduler, guidance, device, images)
        stats = {"started": started, "images_per_batch": min(images, stop - start), "peak_bytes": peak.bytes() or 0}
        atomic_torch_save(data | stats | {"rows": torch.arange(start, stop)}, path)
        logger.info("rank %d: chunk %d (frames %d-%d) in %.1f s", rank, k, start, stop - 1, data["seconds"])


def _wait_for_all_ranks(world: int) -> None:
    if world <= 1:
        return
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    dist.barrier()
    dist.destroy_process_group()


def _merged_results(
    run: Stage2TestRun,
    dataset: EgoBodyDataset,
    chunks: list[Chunk],
    record: dict[str, Any],
    body_source: str,
    started: float,
) -> tuple[PredictionResults, dict[str, float]]:
    """All chunks as one `PredictionResults` (frame order; metadata: `record` and the body model the samples are
    posed with, `body_model_id(body_source)`) and the throughput figures of the run started at ``started``
    (`_throughput`)."""
    chunk_dir = Path(run.out_dir) / "chunks"
    missing = [k for k, _, _ in chunks if not (chunk_dir / f"chunk_{k:05d}.pt").is_file()]
    if missing:
        raise FileNotFoundError(f"chunks {missing[:10]} missing in {chunk_dir}; run the command again to finish them")
    data = [torch.load(chunk_dir / f"chunk_{k:05d}.pt", weights_only=True) for k, _, _ in chunks]
    results = PredictionResults(
        pred_betas=torch.cat([d["betas"] for d in data]).numpy(),
        pred_global_orient_rotmat=torch.cat([d["go"] for d in data]).numpy(),
        pred_body_pose_rotmat=torch.cat([d["bp"] for d in data]).numpy(),
        pred_transl_pv=getattr(dataset, TRANSLATION_FIELDS[run.translation][1]).astype(np.float32),
        imgname=np.asarray(dataset.imgnames),
        metadata=record | {"body_model": body_model_id(body_source)},
        gt_transl_pv=dataset.transl_pv.astype(np.float32),
    )
    return results, _throughput(data, started)


def _throughput(chunks: list[dict[str, Any]], started: float) -> dict[str, float]:
    """Speed and memory of a test from its chunk files (NaN where no chunk has the figure).

    ``seconds_per_image`` / ``images_per_second_sampling``: time inside `predict_samples`, summed over chunks (all
    processes: the rate of one process). ``images_per_second_end_to_end``: frames of the chunks sampled by this run
    (started at ``started``, time.time()) over the wall time from ``started`` to now (data set, model set-up,
    calibration and sampling on all processes, merge). ``peak_memory_gb``: the largest `RunPeak` of the processes
    (GiB). ``images_per_batch``: the largest batch used (a batch never spans two
    chunks).
    """
    frames = sum(len(d["rows"]) for d in chunks)
    seconds = float(sum(d["seconds"] for d in chunks))
    fresh = sum(len(d["rows"]) for d in chunks if float(d.get("started", -np.inf)) >= started)
    peaks = [float(d["peak_bytes"]) for d in chunks if d.get("peak_bytes", 0) > 0]
    batches = [int(d["images_per_batch"]) for d in chunks if "images_per_batch" in d]
    return {
        "seconds_per_image": seconds / max(frames, 1),
        "images_per_second_sampling": frames / seconds if seconds > 0 else float("nan"),
        "images_per_second_end_to_end": fresh / (time.time() - started) if fresh else float("nan"),
        "peak_memory_gb": max(peaks) / GIB if peaks else float("nan"),
        "images_per_batch": float(max(batches)) if batches else float("nan"),
    }


def _evaluate_results(
    results: PredictionResults,
    model: EgoHMRModel,
    run: Stage2TestRun,
    settings: Stage2TestConfig,
    throughput: dict[str, float],
    record: dict[str, Any],
) -> dict[str, float]:
    """Metrics of the merged results; writes results.npz, results_seed_<seed>.pkl, metrics.json and metrics.md."""
    out = Path(run.out_dir)
    write_results(out / "results.npz", results)
    bodies = model.bodies()
    annotations = load_annotations(annotation_path(run.dataset_root, run.split))
    scene = SceneCubeSource(run.dataset_root, run.scene_dir, run.split) if run.collision else None
    output = evaluate_results(
        results,
        annotations,
        BodyModels(bodies["neutral"].cpu(), bodies["male"].cpu(), bodies["female"].cpu()),
        EvalSettings(mode=run.metric_mode),
        scene_points=scene,
        inside_test=get_inside_test(run.inside_test) if scene is not None else None,
        where=str(out / "results.npz"),
    )
    if scene is not None:
        results.stored_collision_ratio = output.stats.collision
        results.stored_contact_ratio = output.stats.contact
    write_official_stage2(out / f"results_seed_{settings.seed}.pkl", results)
    metrics = dict(output.metrics) | throughput
    info = record | {
        "max_memory_gb": settings.max_memory_gb,
        "peak_memory_counts": RunPeak(resolve_device(run.device, 0, setting="--device")).counts,  # type: ignore[arg-type]
        "metric_mode": run.metric_mode,
        "num_frames": results.num_frames,
        "results_file": str(out / "results.npz"),
    }
    write_report(out, metrics, info)
    return metrics


def evaluate(loaded: LoadedStage, run: Stage2TestRun, settings: Stage2TestConfig) -> Stage2TestResult:
    """Sample, merge and evaluate (module docstring); `settings` says how to sample, `loaded.cfg` is left alone.

    Raises:
        egohmr.jobs.StaleOutputError (a ValueError): the output folder holds chunks of other settings or inputs (or
            files of another program) and ``run.overwrite`` is False. egohmr.jobs.FolderLockedError: another job is
            writing it. RuntimeError (ranks other than 0): rank 0 refused the folder. ValueError: "cuda" without CUDA.
            FileNotFoundError: missing data, or chunks of other ranks missing at the merge.
    """
    rank, world = _rank_world()
    record = _record(loaded, run, settings)
    with _claimed_output(run, stage2_test_manifest(loaded, run, record), rank, world):
        return _sample_and_evaluate(loaded, run, settings, record, rank, world)


def _sample_and_evaluate(
    loaded: LoadedStage,
    run: Stage2TestRun,
    settings: Stage2TestConfig,
    record: dict[str, Any],
    rank: int,
    world: int,
) -> Stage2TestResult:
    started = time.time()
    dataset = _test_dataset(run, loaded)
    n = len(dataset)
    chunks = [(k, s, min(s + run.chunk_size, n)) for k, s in enumerate(range(0, n, run.chunk_size))]
    _sample_my_chunks(loaded, run, settings, dataset, chunks, rank, world)
    _wait_for_all_ranks(world)
    if rank != 0:
        return Stage2TestResult(Path(run.out_dir), None, n)
    body_source = run.body or loaded.cfg.model.body_source
    results, throughput = _merged_results(run, dataset, chunks, record, body_source, started)
    metrics = _evaluate_results(results, loaded.model, run, settings, throughput, record)
    return Stage2TestResult(Path(run.out_dir), metrics, n)
