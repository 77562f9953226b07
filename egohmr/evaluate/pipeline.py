"""From a results file and the split's annotations to metrics: what `egohmr eval` runs.

Bodies are posed in batches of frames; per-frame statistics go to `aggregate.FrameStats` and are summarised once.
Collision and contact are evaluated only when a scene-points function is given. `check_body_model` refuses results
whose recorded body model (``metadata["body_model"]``) is not the one the evaluation poses them with.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from egohmr.body.identity import same_body_model
from egohmr.evaluate import metrics as M
from egohmr.evaluate.aggregate import FrameStats, compute_frame_stats, concat_frame_stats, summarize
from egohmr.evaluate.ground_truth import Annotations, gt_bodies, pred_bodies
from egohmr.evaluate.inside import InsideTest, default_inside_test
from egohmr.evaluate.results_io import PredictionResults
from egohmr.evaluate.scene_cubes import ScenePointsFn
from egohmr.evaluate.settings import EvalSettings
from egohmr.evaluate.visibility import in_image_mask

logger = logging.getLogger(__name__)


@dataclass
class BodyModels:
    """Body models for evaluation: neutral for predictions, male/female for GT."""

    neutral: torch.nn.Module
    male: torch.nn.Module
    female: torch.nn.Module


@dataclass
class EvaluationOutput:
    """Result of `evaluate_results`.

    Attributes:
        metrics: {metric name: value} (see `aggregate.summarize`), plus `stored_*` means when the results file
            carried collision/contact values of its own (official pickles).
        stats: per-frame statistics of every frame.
        imgname: (N,) str, frame names in row order.
    """

    metrics: dict[str, float]
    stats: FrameStats
    imgname: np.ndarray


def check_alignment(results: PredictionResults, annotations: Annotations, where: str) -> None:
    """Check that result rows are the annotation rows.

    Raises:
        ValueError: different frame counts, or different image names.
    """
    if results.num_frames != annotations.num_frames:
        raise ValueError(
            f"{where}: {results.num_frames} frames but the annotation file has {annotations.num_frames}; results must "
            "cover every frame of the split in annotation order (official --eval_spacing 1)"
        )
    if results.imgname is not None:
        ours = np.char.replace(results.imgname.astype(str), "\\", "/")
        theirs = np.char.replace(annotations.imgname.astype(str), "\\", "/")
        bad = np.flatnonzero([not (a.endswith(b) or b.endswith(a)) for a, b in zip(ours, theirs, strict=True)])
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"{where}: row {i} is {ours[i]!r} but the annotation row is {theirs[i]!r} ({bad.size} rows differ)"
            )
    if results.gt_transl_pv is not None:
        diff = np.abs(results.gt_transl_pv.astype(np.float64) - annotations.transl_pv).max()
        if diff > 1e-3:
            logger.warning("%s: stored gt_cam_full_list differs from the annotation transl_pv by %.4f m", where, diff)


def check_body_model(
    results: PredictionResults, body_model: Mapping[str, str], where: str, allow_mismatch: bool = False
) -> None:
    """Check that the results' betas belong to the body model the evaluation poses them with.

    Args:
        results: predictions; ``metadata["body_model"]`` is the record written with them (absent in official
            pickles and older files: accepted, logged at INFO).
        body_model: `egohmr.body.identity.body_model_id` of the evaluation's body model source.
        where: name of the results file for messages.
        allow_mismatch: evaluate anyway (logged as a warning).

    Raises:
        ValueError: the recorded body model differs (names both and the flag that overrides the check).
    """
    recorded = results.metadata.get("body_model")
    if not isinstance(recorded, Mapping):
        logger.info("%s records no body model; assuming its betas belong to %s", where, body_model["name"])
        return
    if same_body_model(dict(recorded), dict(body_model)):
        return
    message = (
        f"{where}: its betas belong to body model {recorded.get('name')!r} (sha256 {recorded.get('sha256')}) but "
        f"the evaluation uses {body_model['name']!r} (sha256 {body_model.get('sha256')})"
    )
    if not allow_mismatch:
        raise ValueError(f"{message}; pass the matching --body, or --allow-body-mismatch to evaluate anyway")
    logger.warning("%s (--allow-body-mismatch)", message)


def evaluate_results(
    results: PredictionResults,
    annotations: Annotations,
    bodies: BodyModels,
    settings: EvalSettings | None = None,
    scene_points: ScenePointsFn | None = None,
    inside_test: InsideTest | None = None,
    batch_size: int = 16,
    dtype: torch.dtype = torch.float64,
    progress: Callable[[int, int], None] | None = None,
    where: str = "results",
) -> EvaluationOutput:
    """Evaluate predictions against the split's GT.

    Args:
        results: predictions, rows in annotation order.
        annotations: GT of the split.
        bodies: neutral/male/female body models.
        settings: `EvalSettings` (corrected mode by default).
        scene_points: `(row, imgname) -> (P, 3)` PV-frame scene points, or None to skip collision and contact.
        inside_test: point-in-body test for the collision ratio (`inside.default_inside_test()` if None).
        batch_size: frames posed at once.
        dtype: torch dtype of the body forward passes.
        progress: called with (frames done, total) after each batch.
        where: name of the results file for messages.

    Returns:
        `EvaluationOutput`.
    """
    settings = settings or EvalSettings()
    check_alignment(results, annotations, where)
    test = inside_test if (inside_test is not None or scene_points is None) else default_inside_test()
    faces = bodies.neutral.faces if scene_points is not None else None
    gt_models = {"male": bodies.male, "female": bodies.female}
    parts: list[FrameStats] = []
    total = annotations.num_frames
    for start in range(0, total, batch_size):
        index = np.arange(start, min(start + batch_size, total))
        gt_j, gt_v = gt_bodies(annotations, index, gt_models, dtype)
        pred_j, pred_v = pred_bodies(
            results.pred_betas[index],
            results.pred_global_orient_rotmat[index],
            results.pred_body_pose_rotmat[index],
            results.pred_transl_pv[index],
            bodies.neutral,
            dtype,
        )
        intr = (annotations.fx[index], annotations.fy[index], annotations.cx[index], annotations.cy[index])
        j_vis = in_image_mask(gt_j, *intr, image_size_px=settings.image_size_px, official=settings.official)
        v_vis = in_image_mask(gt_v, *intr, image_size_px=settings.image_size_px, official=settings.official)
        stats = compute_frame_stats(pred_j, pred_v, gt_j, gt_v, j_vis, v_vis, settings)
        if scene_points is not None:
            for k, row in enumerate(index):
                points = scene_points(int(row), str(annotations.imgname[row]))
                if points is None:
                    continue
                stats.collision[k] = M.collision_ratio(points, pred_v[k], faces, test)
                stats.min_scene_distance[k] = M.min_body_scene_distance(points, pred_v[k])
                stats.contact[k] = M.contact(
                    stats.min_scene_distance[k], settings.contact_threshold_m, official=settings.official
                )
        parts.append(stats)
        if progress is not None:
            progress(int(index[-1]) + 1, total)
    all_stats = concat_frame_stats(parts)
    metrics = summarize(all_stats, settings)
    if results.stored_collision_ratio is not None:
        metrics["stored_collision_ratio"] = float(np.mean(results.stored_collision_ratio))
    if results.stored_contact_ratio is not None:
        metrics["stored_contact_ratio"] = float(np.mean(results.stored_contact_ratio))
    return EvaluationOutput(metrics=metrics, stats=all_stats, imgname=annotations.imgname.copy())
