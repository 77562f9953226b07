"""Per-frame statistics of a batch of frames and their dataset-level aggregation into named metrics.

Aggregation (reference-egohmr.md section 5, both modes):
- `<metric>_mm`: mean over all frames x samples of the per-frame mean over elements (joints or vertices).
- `<metric>_vis_mm` / `<metric>_invis_mm`: element-weighted: the sum of per-element errors over the whole dataset and
  all samples / the total number of visible (invisible) elements over the dataset / num_samples.
- `min_mpjpe_invis_mm`: per frame the sample with the smallest summed invisible-joint error; sum over frames / total
  invisible count.
- `collision_ratio`, `contact_ratio`: mean over frames x samples.
- diversity `std_joints*_mm`, `apd_joints*_mm`: mean over frames of per-frame values (frames with NaN are dropped,
  except official `*_vis` and the all-joint values, which use a plain mean as the official code does).

Metric names follow `<metric>[_<subset>]_<unit>` (style rule 23).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from egohmr.constants import MM_PER_M
from egohmr.evaluate import distribution as D
from egohmr.evaluate import metrics as M
from egohmr.evaluate.arrays import ArrayLike, to_numpy
from egohmr.evaluate.settings import EvalSettings

JOINT_FAMILIES: tuple[str, ...] = ("g_mpjpe", "mpjpe", "pa_mpjpe")
VERTEX_FAMILIES: tuple[str, ...] = ("g_v2v", "v2v", "pa_v2v")
DIVERSITY_NAMES: tuple[str, ...] = (
    "std_joints",
    "std_joints_vis",
    "std_joints_invis",
    "apd_joints",
    "apd_joints_vis",
    "apd_joints_invis",
)


@dataclass
class ErrorStats:
    """Errors of one metric family (e.g. MPJPE) for B frames and S samples, metres.

    Attributes:
        mean: (B, S) float64. Mean error over all elements of each frame and sample.
        vis_sum: (B, S) float64. Sum of errors over the visible elements.
        invis_sum: (B, S) float64. Sum of errors over the invisible elements.
    """

    mean: np.ndarray
    vis_sum: np.ndarray
    invis_sum: np.ndarray

    @classmethod
    def from_errors(cls, errors: np.ndarray, visible: np.ndarray) -> ErrorStats:
        """Build from per-element errors (B, S, P) and visibility (B, P)."""
        vis_sum, invis_sum = M.split_sums(errors, visible)
        return cls(mean=errors.mean(axis=-1), vis_sum=vis_sum, invis_sum=invis_sum)


@dataclass
class FrameStats:
    """Everything needed to aggregate metrics, for B frames with S samples each. Distances in metres.

    Attributes:
        g_mpjpe, mpjpe, pa_mpjpe: joint errors (global, pelvis-aligned, Procrustes-aligned).
        g_v2v, v2v, pa_v2v: vertex errors (global, pelvis-aligned, Procrustes-aligned on all vertices).
        per_joint_mpjpe: (B, S, J) float64. Pelvis-aligned error of each joint.
        per_joint_pa_mpjpe: (B, S, J) float64. Procrustes-aligned error of each joint.
        per_joint_g_mpjpe: (B, S, J) float64. Global error of each joint.
        joint_visible: (B, J) bool. GT joint visibility.
        vertex_visible_count: (B,) int64. Number of visible GT vertices.
        num_vertices: (B,) int64. Vertex count of each frame's body.
        std_joints, std_joints_vis, std_joints_invis: (B,) float64. Diversity (NaN where undefined).
        apd_joints, apd_joints_vis, apd_joints_invis: (B,) float64. Diversity (official halving in official mode).
        collision: (B, S) float64 collision ratio, NaN where not evaluated.
        contact: (B, S) float64 contact flag (0/1), NaN where not evaluated.
        min_scene_distance: (B, S) float64, metres, NaN where not evaluated.
        energy_score_vis, energy_score_invis: (B,) float64, metres. Energy score of the pelvis-aligned samples of the
            visible / invisible joints (`egohmr.evaluate.distribution`); NaN with one sample or no such joint.
        coverage_inside_vis, coverage_inside_invis: (B, L) int64. Visible / invisible GT joints inside the samples'
            ball at each level of `distribution.CALIBRATION_LEVELS` (0 with one sample).
    """

    g_mpjpe: ErrorStats
    mpjpe: ErrorStats
    pa_mpjpe: ErrorStats
    g_v2v: ErrorStats
    v2v: ErrorStats
    pa_v2v: ErrorStats
    per_joint_mpjpe: np.ndarray
    per_joint_pa_mpjpe: np.ndarray
    per_joint_g_mpjpe: np.ndarray
    joint_visible: np.ndarray
    vertex_visible_count: np.ndarray
    num_vertices: np.ndarray
    std_joints: np.ndarray
    std_joints_vis: np.ndarray
    std_joints_invis: np.ndarray
    apd_joints: np.ndarray
    apd_joints_vis: np.ndarray
    apd_joints_invis: np.ndarray
    collision: np.ndarray
    contact: np.ndarray
    min_scene_distance: np.ndarray
    energy_score_vis: np.ndarray
    energy_score_invis: np.ndarray
    coverage_inside_vis: np.ndarray
    coverage_inside_invis: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.joint_visible.shape[0])

    @property
    def num_samples(self) -> int:
        return int(self.mpjpe.mean.shape[1])

    def family(self, name: str) -> ErrorStats:
        """The `ErrorStats` of a family in `JOINT_FAMILIES + VERTEX_FAMILIES`."""
        if name not in JOINT_FAMILIES + VERTEX_FAMILIES:
            raise ValueError(f"unknown metric family {name!r}")
        return getattr(self, name)


def compute_frame_stats(
    pred_joints_pv: ArrayLike,
    pred_vertices_pv: ArrayLike,
    gt_joints_pv: ArrayLike,
    gt_vertices_pv: ArrayLike,
    joint_visible: ArrayLike,
    vertex_visible: ArrayLike,
    settings: EvalSettings | None = None,
) -> FrameStats:
    """Compute every accuracy and diversity statistic of B frames (collision/contact are filled with NaN).

    Args:
        pred_joints_pv: (B, S, J, 3) float, metres, PV frame, translation included. Predicted joints.
        pred_vertices_pv: (B, S, V, 3) float, metres, PV frame, translation included. Predicted vertices.
        gt_joints_pv: (B, J, 3) float, metres, PV frame. GT joints.
        gt_vertices_pv: (B, V, 3) float, metres, PV frame. GT vertices.
        joint_visible: (B, J) bool. GT joint visibility (`visibility.in_image_mask`).
        vertex_visible: (B, V) bool. GT vertex visibility.
        settings: `EvalSettings` (corrected mode by default).

    Returns:
        `FrameStats` of the B frames.
    """
    settings = settings or EvalSettings()
    official = settings.official
    pred_j, pred_v = to_numpy(pred_joints_pv), to_numpy(pred_vertices_pv)
    gt_j, gt_v = to_numpy(gt_joints_pv), to_numpy(gt_vertices_pv)
    j_vis, v_vis = to_numpy(joint_visible, dtype=bool), to_numpy(vertex_visible, dtype=bool)
    if pred_j.ndim != 4 or pred_v.ndim != 4 or gt_j.ndim != 3 or gt_v.ndim != 3:
        raise ValueError(
            "compute_frame_stats: expected pred (B, S, J|V, 3) and gt (B, J|V, 3), got "
            f"{pred_j.shape}, {pred_v.shape}, {gt_j.shape}, {gt_v.shape}"
        )
    gt_j1, gt_v1 = gt_j[:, None], gt_v[:, None]  # (B, 1, J, 3), (B, 1, V, 3)

    per_joint_g = M.point_errors(pred_j, gt_j1)  # (B, S, J)
    pred_j_al, gt_j_al = M.pelvis_aligned(pred_j, pred_j), M.pelvis_aligned(gt_j1, gt_j1)
    pred_v_al, gt_v_al = M.pelvis_aligned(pred_v, pred_j), M.pelvis_aligned(gt_v1, gt_j1)
    per_joint = M.point_errors(pred_j_al, gt_j_al)  # (B, S, J)
    align_mask = j_vis[:, None, :] if settings.pa_alignment == "visible" else None
    per_joint_pa = M.procrustes_errors(pred_j_al, gt_j_al, align_mask, official=official)  # (B, S, J)
    per_vertex_g = M.point_errors(pred_v, gt_v1)  # (B, S, V)
    per_vertex = M.point_errors(pred_v_al, gt_v_al)
    per_vertex_pa = M.procrustes_errors(pred_v_al, gt_v_al, None, official=official)

    num_frames, num_samples = pred_j.shape[:2]
    nan = np.full((num_frames, num_samples), np.nan)
    energy_vis, energy_invis, inside_vis, inside_invis = _distribution_scores(pred_j_al, gt_j_al[:, 0], j_vis)
    return FrameStats(
        g_mpjpe=ErrorStats.from_errors(per_joint_g, j_vis),
        mpjpe=ErrorStats.from_errors(per_joint, j_vis),
        pa_mpjpe=ErrorStats.from_errors(per_joint_pa, j_vis),
        g_v2v=ErrorStats.from_errors(per_vertex_g, v_vis),
        v2v=ErrorStats.from_errors(per_vertex, v_vis),
        pa_v2v=ErrorStats.from_errors(per_vertex_pa, v_vis),
        per_joint_mpjpe=per_joint,
        per_joint_pa_mpjpe=per_joint_pa,
        per_joint_g_mpjpe=per_joint_g,
        joint_visible=j_vis,
        vertex_visible_count=v_vis.sum(axis=-1).astype(np.int64),
        num_vertices=np.full(num_frames, v_vis.shape[-1], dtype=np.int64),
        std_joints=M.std_joints(pred_j_al),
        std_joints_vis=M.std_joints(pred_j_al, j_vis),
        std_joints_invis=M.std_joints(pred_j_al, ~j_vis),
        apd_joints=M.apd_joints(pred_j_al, None, official=official),
        apd_joints_vis=M.apd_joints(pred_j_al, j_vis, official=official),
        apd_joints_invis=M.apd_joints(pred_j_al, ~j_vis, official=official),
        collision=nan.copy(),
        contact=nan.copy(),
        min_scene_distance=nan.copy(),
        energy_score_vis=energy_vis,
        energy_score_invis=energy_invis,
        coverage_inside_vis=inside_vis,
        coverage_inside_invis=inside_invis,
    )


def _distribution_scores(pred_joints: np.ndarray, gt_joints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, ...]:
    """Energy scores (B,) and coverage counts (B, L) of the visible and invisible joints (NaN / 0 with S = 1)."""
    num_frames, num_samples = pred_joints.shape[:2]
    if num_samples < 2:
        nan, zeros = np.full(num_frames, np.nan), np.zeros((num_frames, len(D.CALIBRATION_LEVELS)), np.int64)
        return nan, nan.copy(), zeros, zeros.copy()
    scores = [D.energy_score(pred_joints, gt_joints, mask) for mask in (visible, ~visible)]
    inside = [D.coverage_counts(pred_joints, gt_joints, mask)[0] for mask in (visible, ~visible)]
    return scores[0], scores[1], inside[0], inside[1]


def concat_frame_stats(parts: list[FrameStats]) -> FrameStats:
    """Concatenate `FrameStats` of consecutive batches along the frame axis."""
    if not parts:
        raise ValueError("concat_frame_stats: no frames to concatenate")
    values = {}
    for f in fields(FrameStats):
        first = getattr(parts[0], f.name)
        if isinstance(first, ErrorStats):
            values[f.name] = ErrorStats(
                *(np.concatenate([getattr(getattr(p, f.name), g.name) for p in parts]) for g in fields(ErrorStats))
            )
        else:
            values[f.name] = np.concatenate([getattr(p, f.name) for p in parts])
    return FrameStats(**values)


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else float("nan")


def _frame_mean(values: np.ndarray, drop_nan: bool) -> float:
    """Mean of per-frame values; NaN frames dropped if `drop_nan`, else they make the mean NaN."""
    if drop_nan:
        values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def summarize(stats: FrameStats, settings: EvalSettings | None = None) -> dict[str, float]:
    """Aggregate per-frame statistics into the named dataset metrics.

    Args:
        stats: `FrameStats` of the whole dataset (`concat_frame_stats`).
        settings: `EvalSettings` (only `mode` matters here).

    Returns:
        {metric name: value}; millimetres for `*_mm`, unitless ratios otherwise. NaN where undefined (e.g. no
        invisible joint in the dataset, fewer than 2 samples for diversity, no scene for collision/contact).
    """
    settings = settings or EvalSettings()
    num_samples = stats.num_samples
    joint_vis_total = int(stats.joint_visible.sum())
    joint_invis_total = int(stats.joint_visible.size - joint_vis_total)
    vertex_vis_total = int(stats.vertex_visible_count.sum())
    vertex_invis_total = int(stats.num_vertices.sum() - vertex_vis_total)
    out: dict[str, float] = {}
    for name in JOINT_FAMILIES + VERTEX_FAMILIES:
        fam = stats.family(name)
        vis_total, invis_total = (
            (joint_vis_total, joint_invis_total) if name in JOINT_FAMILIES else (vertex_vis_total, vertex_invis_total)
        )
        out[f"{name}_mm"] = MM_PER_M * float(fam.mean.mean())
        out[f"{name}_vis_mm"] = MM_PER_M * _ratio(fam.vis_sum.sum(), vis_total * num_samples)
        out[f"{name}_invis_mm"] = MM_PER_M * _ratio(fam.invis_sum.sum(), invis_total * num_samples)
    best, _ = M.best_of_n_sum(stats.mpjpe.invis_sum)
    out["min_mpjpe_invis_mm"] = MM_PER_M * _ratio(best.sum(), joint_invis_total)
    out["collision_ratio"] = _frame_mean(stats.collision.reshape(-1), drop_nan=True)
    out["contact_ratio"] = _frame_mean(stats.contact.reshape(-1), drop_nan=True)
    for name in DIVERSITY_NAMES:
        # Official: plain mean except for the invisible subset (reference-egohmr.md section 5).
        drop_nan = (not settings.official) or name.endswith("_invis")
        out[f"{name}_mm"] = MM_PER_M * _frame_mean(getattr(stats, name), drop_nan=drop_nan)
    out.update(_distribution_summary(stats, joint_vis_total, joint_invis_total))
    out["num_frames"] = float(stats.num_frames)
    out["num_samples"] = float(num_samples)
    out["joint_vis_fraction"] = _ratio(joint_vis_total, stats.joint_visible.size)
    return out


def _distribution_summary(stats: FrameStats, vis_total: int, invis_total: int) -> dict[str, float]:
    """`energy_score_{vis,invis}_mm` (frame mean) and `coverage_{vis,invis}_<level %>` (joint-weighted)."""
    out: dict[str, float] = {}
    defined = stats.num_samples >= 2
    for subset, total in (("vis", vis_total), ("invis", invis_total)):
        scores = getattr(stats, f"energy_score_{subset}")
        out[f"energy_score_{subset}_mm"] = MM_PER_M * _frame_mean(scores, drop_nan=True)
        inside = getattr(stats, f"coverage_inside_{subset}").sum(axis=0)
        for level, count in zip(D.CALIBRATION_LEVELS, inside, strict=True):
            out[f"coverage_{subset}_{round(100 * level)}"] = _ratio(count, total) if defined else float("nan")
    return out


def evaluate_arrays(
    pred_joints_pv: ArrayLike,
    pred_vertices_pv: ArrayLike,
    gt_joints_pv: ArrayLike,
    gt_vertices_pv: ArrayLike,
    joint_visible: ArrayLike,
    vertex_visible: ArrayLike,
    settings: EvalSettings | None = None,
) -> dict[str, float]:
    """One call from arrays to the named metrics (no collision/contact). Shapes as in `compute_frame_stats`."""
    stats = compute_frame_stats(
        pred_joints_pv, pred_vertices_pv, gt_joints_pv, gt_vertices_pv, joint_visible, vertex_visible, settings
    )
    return summarize(stats, settings)
