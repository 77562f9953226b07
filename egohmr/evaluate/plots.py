"""PNG figures of an evaluation (matplotlib, Agg backend; imported only when plotting).

- `per_joint_errors.png`: mean MPJPE and PA-MPJPE of each joint over the frames where it is visible / invisible.
- `error_vs_truncation.png`: MPJPE (all / visible / invisible joints) against the fraction of invisible joints.
- `diversity_vs_visibility.png`: std and APD diversity against the fraction of invisible joints.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from egohmr.constants import MM_PER_M, SMPL_JOINT_NAMES
from egohmr.evaluate.aggregate import FrameStats
from egohmr.evaluate.distribution import CALIBRATION_LEVELS
from egohmr.files import atomic_open

TRUNCATION_BINS = 6


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110, bbox_inches="tight")


def per_joint_means(per_joint: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean error of each joint over samples and over the frames where it is visible / invisible.

    Args:
        per_joint: (N, S, J) float, metres.
        visible: (N, J) bool.

    Returns:
        (vis_mean (J,), invis_mean (J,)) float64 in mm; NaN for a joint never (in)visible.
    """
    err = per_joint.mean(axis=1)  # (N, J)
    with np.errstate(divide="ignore", invalid="ignore"):
        vis = (err * visible).sum(axis=0) / visible.sum(axis=0)
        invis = (err * ~visible).sum(axis=0) / (~visible).sum(axis=0)
    return MM_PER_M * vis, MM_PER_M * invis


def binned_by_truncation(values: np.ndarray, truncation: np.ndarray, bins: int = TRUNCATION_BINS):
    """Mean of `values` (N,) in equal-width bins of `truncation` (N,) in [0, 1]; returns (centres, means, counts)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(truncation, edges[1:-1]), 0, bins - 1)
    means, counts = np.full(bins, np.nan), np.zeros(bins, dtype=int)
    for b in range(bins):
        sel = (which == b) & np.isfinite(values)
        counts[b] = int(sel.sum())
        if counts[b]:
            means[b] = values[sel].mean()
    return 0.5 * (edges[:-1] + edges[1:]), means, counts


def plot_per_joint_errors(stats: FrameStats, path: str | Path) -> None:
    """Bar chart of per-joint MPJPE / PA-MPJPE split by visibility."""
    plt = _pyplot()
    num_joints = stats.joint_visible.shape[1]
    names = list(SMPL_JOINT_NAMES[:num_joints]) + [str(j) for j in range(len(SMPL_JOINT_NAMES), num_joints)]
    x = np.arange(num_joints)
    fig, axes = plt.subplots(2, 1, figsize=(12, 7), sharex=True)
    for ax, (title, per_joint) in zip(
        axes, (("MPJPE", stats.per_joint_mpjpe), ("PA-MPJPE", stats.per_joint_pa_mpjpe)), strict=True
    ):
        vis, invis = per_joint_means(per_joint, stats.joint_visible)
        ax.bar(x - 0.2, np.nan_to_num(vis), width=0.4, label="visible")
        ax.bar(x + 0.2, np.nan_to_num(invis), width=0.4, label="invisible")
        ax.set_ylabel(f"{title} (mm)")
        ax.legend(loc="upper left")
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(x)
    axes[-1].set_xticklabels(names, rotation=60, ha="right")
    fig.suptitle("Per-joint error (mean over frames and samples)")
    _save(fig, Path(path))
    plt.close(fig)


def _truncation(stats: FrameStats) -> np.ndarray:
    return 1.0 - stats.joint_visible.mean(axis=1)


def plot_error_vs_truncation(stats: FrameStats, path: str | Path) -> None:
    """MPJPE of all / visible / invisible joints against the fraction of invisible joints per frame."""
    plt = _pyplot()
    trunc = _truncation(stats)
    j_vis = stats.joint_visible.sum(axis=1)
    j_all = stats.joint_visible.shape[1]
    s = stats.num_samples
    with np.errstate(divide="ignore", invalid="ignore"):
        series = {
            "all joints": stats.mpjpe.mean.mean(axis=1),
            "visible joints": stats.mpjpe.vis_sum.sum(axis=1) / (j_vis * s),
            "invisible joints": stats.mpjpe.invis_sum.sum(axis=1) / ((j_all - j_vis) * s),
        }
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, values in series.items():
        centres, means, _ = binned_by_truncation(MM_PER_M * values, trunc)
        ax.plot(centres, means, marker="o", label=label)
    _, _, counts = binned_by_truncation(stats.mpjpe.mean.mean(axis=1), trunc)
    ax.set_xlabel("truncation (fraction of invisible GT joints)")
    ax.set_ylabel("MPJPE (mm)")
    ax.set_title(f"Error vs truncation (frames per bin: {', '.join(map(str, counts))})")
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, Path(path))
    plt.close(fig)


def plot_diversity_vs_visibility(stats: FrameStats, path: str | Path) -> None:
    """Std and APD diversity (all / visible / invisible joints) against the fraction of invisible joints."""
    plt = _pyplot()
    trunc = _truncation(stats)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, base in zip(axes, ("std_joints", "apd_joints"), strict=True):
        for suffix, label in (("", "all"), ("_vis", "visible"), ("_invis", "invisible")):
            centres, means, _ = binned_by_truncation(MM_PER_M * getattr(stats, base + suffix), trunc)
            ax.plot(centres, means, marker="o", label=label)
        ax.set_xlabel("truncation (fraction of invisible GT joints)")
        ax.set_ylabel(f"{base} (mm)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"Diversity vs visibility ({stats.num_samples} samples per frame)")
    _save(fig, Path(path))
    plt.close(fig)


def plot_calibration(stats: FrameStats, path: str | Path) -> None:
    """Reliability plot: fraction of GT joints inside the samples' level-α ball against α (visible / invisible).

    On the diagonal the spread is calibrated; below it too narrow (over-confident), above it too wide.
    """
    plt = _pyplot()
    levels = np.asarray(CALIBRATION_LEVELS)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="calibrated")
    for subset, label, mask in (("vis", "visible", stats.joint_visible), ("invis", "invisible", ~stats.joint_visible)):
        total = int(mask.sum())
        if total and stats.num_samples >= 2:
            observed = getattr(stats, f"coverage_inside_{subset}").sum(axis=0) / total
            ax.plot(levels, observed, marker="o", label=f"{label} joints")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("nominal level α")
    ax.set_ylabel("observed coverage")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"Calibration of the sample spread ({stats.num_samples} samples)")
    _save(fig, Path(path))
    plt.close(fig)


def write_plots(stats: FrameStats, out_dir: str | Path) -> list[Path]:
    """Write the four figures into `out_dir`; returns their paths."""
    out = Path(out_dir)
    paths = [
        out / "per_joint_errors.png",
        out / "error_vs_truncation.png",
        out / "diversity_vs_visibility.png",
        out / "calibration.png",
    ]
    plot_per_joint_errors(stats, paths[0])
    plot_error_vs_truncation(stats, paths[1])
    plot_diversity_vs_visibility(stats, paths[2])
    plot_calibration(stats, paths[3])
    return paths
