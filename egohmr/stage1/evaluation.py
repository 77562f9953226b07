"""Stage-1 evaluation: predictions for a split, metrics of the mode sample, the mean baseline, and `results.pkl`.

`evaluate(loaded, run)` runs a loaded checkpoint (`egohmr.stage1.checkpoint.load_with_source`) on every frame of the
split in annotation order (S samples each, mode first), then
- evaluates the mode sample with `egohmr.evaluate` (stage-1 metrics: G-MPJPE, MPJPE, PA-MPJPE with all joints,
  G-V2V, V2V, PA-V2V; reference-egohmr.md section 5) plus the translation error `transl_err_mm`;
- evaluates the mean-pose / mean-translation baseline (`egohmr.stage1.baseline`) the same way;
- writes, atomically, into an output folder that holds the run's input manifest (`egohmr.jobs`; a folder of another
  run is refused unless `overwrite`), `results.pkl` (`{'pred_cam_full_list': float32 (N, 3)}`, the official stage-1
  format read by the stage-2 test preprocessing), `predictions.npz` (all samples, our results format, `egohmr eval`
  reads it) and `metrics.json`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from egohmr.body.identity import body_model_id
from egohmr.constants import MM_PER_M
from egohmr.data.dataset import EgoBodyDataOptions, EgoBodyDataset
from egohmr.data.egobody_format import annotation_path
from egohmr.evaluate.ground_truth import Annotations, load_annotations
from egohmr.evaluate.pipeline import BodyModels, evaluate_results
from egohmr.evaluate.results_io import PredictionResults, write_official_stage1, write_results
from egohmr.evaluate.settings import EvalSettings
from egohmr.files import atomic_write_text
from egohmr.jobs import JobManifest, file_digest, folder_digest, job_output_dir
from egohmr.preprocess.sampling import RANDOM_STREAMS
from egohmr.stage1.baseline import mean_prediction
from egohmr.stage1.data import Stage1Items, check_stage1_inputs
from egohmr.stage1.model import ProHMRScene
from egohmr.stage1.train import load_body_models
from egohmr.train.distributed import resolve_device
from egohmr.train.inference_checkpoint import LoadedStage

__all__ = [
    "REPORTED_METRICS",
    "Stage1Predictions",
    "Stage1TestResult",
    "Stage1TestRun",
    "evaluate",
    "predict",
    "stage1_metrics",
    "stage1_test_manifest",
]

logger = logging.getLogger(__name__)

REPORTED_METRICS: tuple[str, ...] = (
    "transl_err_mm",
    "g_mpjpe_mm",
    "mpjpe_mm",
    "pa_mpjpe_mm",
    "g_v2v_mm",
    "v2v_mm",
    "pa_v2v_mm",
)
"""Stage-1 metrics printed by `egohmr test stage1` (all in `metrics.json`)."""

OUTPUT_FILES = ("results.pkl", "predictions.npz", "metrics.json")
"""What a stage-1 test writes into its output folder."""


@dataclasses.dataclass
class Stage1Predictions:
    """Predictions for N frames, S samples each (sample 0 = mode).

    Attributes:
        betas: (N, S, 10) float32.
        global_orient_rotmat: (N, S, 3, 3) float32, PV frame.
        body_pose_rotmat: (N, S, 23, 3, 3) float32.
        transl_pv: (N, S, 3) float32, metres, PV frame (identical along S: the head does not see z).
        rows: (N,) int64 annotation rows.
    """

    betas: np.ndarray
    global_orient_rotmat: np.ndarray
    body_pose_rotmat: np.ndarray
    transl_pv: np.ndarray
    rows: np.ndarray

    def results(self, imgname: np.ndarray, samples: slice = slice(None), metadata: dict | None = None):
        """`PredictionResults` of the chosen samples with the mode translation."""
        return PredictionResults(
            pred_betas=self.betas[:, samples],
            pred_global_orient_rotmat=self.global_orient_rotmat[:, samples],
            pred_body_pose_rotmat=self.body_pose_rotmat[:, samples],
            pred_transl_pv=self.transl_pv[:, 0],
            imgname=imgname,
            metadata=metadata or {},
        )


@dataclasses.dataclass(frozen=True)
class Stage1TestRun:
    """What to evaluate a stage-1 checkpoint on, and how (the flags of `egohmr test stage1`)."""

    dataset_root: str | Path
    """EgoBody root (annotation npz, images, transforms)."""
    out_dir: str | Path
    """Where results.pkl, predictions.npz and metrics.json go."""
    split: str = "test"
    """Annotation split."""
    scene_dir: str | Path | None = None
    """Stage-1 scene folder (default `<dataset_root>/preprocess_scene_s1`)."""
    num_samples: int | None = None
    """S (default: the checkpoint's `model.num_test_samples`)."""
    body_model: str | None = None
    """Body-model source of the metrics (default: the checkpoint's `model.body_model`)."""
    batch_size: int = 16
    """Frames per batch."""
    num_workers: int = 0
    """Data-loading workers."""
    seed: int = 0
    """Seed of the latents of the random samples."""
    device: str = "auto"
    """"cpu", "cuda" or "auto" (`egohmr.train.distributed.resolve_device`)."""
    baseline: bool = True
    """Also evaluate the mean baseline (needs the train split's annotation npz)."""
    overwrite: bool = False
    """Replace the outputs of a test run of other inputs or settings in `out_dir` (otherwise refused)."""

    def resolved_scene_dir(self) -> Path:
        """The stage-1 scene folder (default `<dataset_root>/preprocess_scene_s1`)."""
        return Path(self.scene_dir) if self.scene_dir is not None else Path(self.dataset_root) / "preprocess_scene_s1"


@dataclasses.dataclass
class Stage1TestResult:
    """Outcome of `evaluate`."""

    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    results_pkl: Path
    predictions_npz: Path
    metrics_json: Path
    num_frames: int


def predict(
    model: ProHMRScene,
    items: Stage1Items,
    num_samples: int,
    batch_size: int = 16,
    num_workers: int = 0,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> Stage1Predictions:
    """Run `model` (eval mode) over `items` in order; the latents come from one generator seeded with `seed`."""
    device = torch.device(device)
    model = model.to(device).eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    loader = DataLoader(items, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("betas", "go", "pose", "transl", "rows")}
    with torch.no_grad():
        for k, batch in enumerate(loader):
            batch = {key: v.to(device) for key, v in batch.items()}
            out = model(batch, num_samples, generator=generator)
            parts["betas"].append(out.betas.float().cpu().numpy())
            parts["go"].append(out.global_orient_rotmat.float().cpu().numpy())
            parts["pose"].append(out.body_pose_rotmat.float().cpu().numpy())
            parts["transl"].append(out.transl_full_pv.float().cpu().numpy())
            parts["rows"].append(batch["index"].cpu().numpy())
            if (k + 1) % 20 == 0:
                logger.info("stage-1 test: %d / %d frames", (k + 1) * batch_size, len(items))
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    return Stage1Predictions(cat["betas"], cat["go"], cat["pose"], cat["transl"], cat["rows"].astype(np.int64))


def stage1_metrics(
    results: PredictionResults, annotations: Annotations, bodies: BodyModels, where: str = "stage-1 predictions"
) -> dict[str, float]:
    """Stage-1 metrics of single-sample results: `egohmr.evaluate` metrics (PA with all joints, as the official
    stage-1 test) plus `transl_err_mm`, the mean L2 error of the translation vs GT `transl_pv`, and
    `transl_rms_{x,y,z}_mm`, its per-axis root mean square (PV axes; a measured value for the stage-2
    `train_options.condition_transl_noise_std_m`)."""
    settings = EvalSettings(pa_alignment="all")
    metrics = evaluate_results(results, annotations, bodies, settings, where=where).metrics
    diff = results.pred_transl_pv.astype(np.float64) - annotations.transl_pv  # (N, 3) metres
    metrics["transl_err_mm"] = MM_PER_M * float(np.linalg.norm(diff, axis=-1).mean())
    for axis, rms in zip("xyz", np.sqrt((diff**2).mean(axis=0)), strict=True):
        metrics[f"transl_rms_{axis}_mm"] = MM_PER_M * float(rms)
    return metrics


def _baseline_results(root: str | Path, annotations: Annotations) -> PredictionResults:
    mean = mean_prediction(root, "train")
    n = annotations.num_frames
    return PredictionResults(
        pred_betas=np.broadcast_to(mean.betas, (n, 1, 10)).astype(np.float32),
        pred_global_orient_rotmat=np.broadcast_to(mean.global_orient_rotmat, (n, 1, 3, 3)).astype(np.float32),
        pred_body_pose_rotmat=np.broadcast_to(mean.body_pose_rotmat, (n, 1, 23, 3, 3)).astype(np.float32),
        pred_transl_pv=np.broadcast_to(mean.transl_pv, (n, 3)).astype(np.float32),
        imgname=annotations.imgname,
    )


def _test_items(run: Stage1TestRun, loaded: LoadedStage) -> Stage1Items:
    """The split's frames in annotation order with every stored scene point, subsampled per frame by `run.seed`."""
    cfg = loaded.cfg
    base = EgoBodyDataset(
        EgoBodyDataOptions(
            root=str(run.dataset_root),
            split=run.split,  # type: ignore[arg-type]
            stage=1,
            scene_dir=str(run.resolved_scene_dir()),
            crop_size_px=cfg.model.image_size_px,
            bbox_enlarge=cfg.data.bbox_enlarge,
            num_scene_points=None,
            load_images=True,
        )
    )
    return Stage1Items(base, cfg.model.num_scene_points, seed=run.seed)


def _write_predictions(out: Path, preds: Stage1Predictions, annotations: Annotations, meta: dict) -> tuple[Path, Path]:
    """`results.pkl` (official stage-1 format: the mode translation) and `predictions.npz` (all samples)."""
    if not np.array_equal(preds.rows, np.arange(annotations.num_frames)):
        raise ValueError("stage-1 predictions are not in annotation-row order")  # cannot happen with spacing 1
    out.mkdir(parents=True, exist_ok=True)
    results_pkl = out / OUTPUT_FILES[0]
    write_official_stage1(results_pkl, preds.transl_pv[:, 0])
    predictions_npz = out / OUTPUT_FILES[1]
    write_results(predictions_npz, preds.results(annotations.imgname, metadata=meta))
    return results_pkl, predictions_npz


def stage1_test_manifest(loaded: LoadedStage, run: Stage1TestRun, num_samples: int, body_model: str) -> JobManifest:
    """The `egohmr.jobs` manifest of a stage-1 test: settings and digests of the checkpoint, the annotations (and the
    train annotations of the baseline) and the stage-1 scene folder."""
    root = Path(run.dataset_root)
    params = {
        "split": run.split,
        "num_samples": num_samples,
        "body_model": body_model,
        "batch_size": run.batch_size,
        "seed": run.seed,
        "baseline": run.baseline,
        "random_streams": RANDOM_STREAMS,
    }
    inputs = {
        "checkpoint": file_digest(loaded.path),
        "annotations": file_digest(annotation_path(root, run.split)),
        "scene_dir": folder_digest(run.resolved_scene_dir(), f"scene-s1-{run.split}"),
    }
    if run.baseline:
        inputs["train_annotations"] = file_digest(annotation_path(root, "train"))
    return JobManifest("test-stage1", params, inputs)


def evaluate(loaded: LoadedStage, run: Stage1TestRun) -> Stage1TestResult:
    """Test a loaded stage-1 checkpoint (ours or the official `best_model.pt`) on a split (module docstring).

    `run.out_dir` stores the run's `stage1_test_manifest` (``.egohmr-job.test-stage1.json``) and is locked while it
    is written.

    Raises:
        FileNotFoundError: missing annotation, scene or body-model files (named in the message).
        ValueError: `run.device` is "cuda" without CUDA.
        egohmr.jobs.StaleOutputError: `run.out_dir` holds a test of other inputs or settings (or files of another
            program) and `run.overwrite` is False. egohmr.jobs.FolderLockedError: another job is writing it.
    """
    root = Path(run.dataset_root)
    check_stage1_inputs(root, run.split, run.resolved_scene_dir())
    cfg = loaded.cfg
    num_samples = run.num_samples or cfg.model.num_test_samples
    body_model = run.body_model or cfg.model.body_model
    out = Path(run.out_dir)
    outputs = [out / name for name in OUTPUT_FILES]
    with job_output_dir(out, stage1_test_manifest(loaded, run, num_samples, body_model), run.overwrite, outputs):
        return _evaluate(loaded, run, num_samples, body_model)


def _evaluate(loaded: LoadedStage, run: Stage1TestRun, num_samples: int, body_model: str) -> Stage1TestResult:
    """Predict, write the results and score them (in the claimed output folder)."""
    root = Path(run.dataset_root)
    device = resolve_device(run.device, int(os.environ.get("LOCAL_RANK", "0")), setting="--device")
    items = _test_items(run, loaded)
    logger.info(
        "stage-1 test of %s (%s) on %d %s frames, %d samples each",
        loaded.path,
        loaded.kind,
        len(items),
        run.split,
        num_samples,
    )
    preds = predict(loaded.model, items, num_samples, run.batch_size, run.num_workers, run.seed, device)
    annotations = load_annotations(annotation_path(root, run.split))
    meta = {"checkpoint": str(loaded.path), "checkpoint_type": loaded.kind, "split": run.split, "seed": run.seed}
    out = Path(run.out_dir)
    written_meta = {**meta, "num_samples": num_samples, "body_model": body_model_id(body_model)}
    results_pkl, predictions_npz = _write_predictions(out, preds, annotations, written_meta)
    bodies = BodyModels(*load_body_models(body_model))
    metrics = stage1_metrics(preds.results(annotations.imgname, slice(0, 1)), annotations, bodies)
    baseline_metrics = (
        stage1_metrics(_baseline_results(root, annotations), annotations, bodies, "mean baseline")
        if run.baseline
        else {}
    )
    metrics_json = out / OUTPUT_FILES[2]
    payload = {
        "model": metrics,
        "mean_baseline": baseline_metrics,
        "settings": {**meta, "num_samples": num_samples, "body_model": body_model},
    }
    atomic_write_text(metrics_json, json.dumps(payload, indent=2, sort_keys=True))
    return Stage1TestResult(metrics, baseline_metrics, results_pkl, predictions_npz, metrics_json, len(items))
