"""From an `EgoHMRResult` to the files of `egohmr.outputs` (frame record, overlay, scene view, .glb) and a
prediction `.npz`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from egohmr.pipeline.core import EgoHMRResult

__all__ = ["result_record", "save_prediction_npz"]


def result_record(
    name: str,
    image: np.ndarray,
    intrinsics: Sequence[float],
    bbox_px: Sequence[float],
    result: EgoHMRResult,
    gt_vertices_pv: np.ndarray | None = None,
    metrics: Mapping[str, float] | None = None,
):
    """`egohmr.outputs.FrameRecord` of one prediction (image embedded, samples in result order)."""
    from egohmr.outputs import FrameRecord

    return FrameRecord(
        name=name,
        intrinsics_px=tuple(float(v) for v in intrinsics),
        bbox_px=tuple(float(v) for v in bbox_px),
        scene_points_pv=result.scene_points_pv,
        pred_vertices_pv=result.vertices_pv,
        faces=result.faces.astype(np.int32),
        image=image,
        gt_vertices_pv=gt_vertices_pv,
        metrics=dict(metrics) if metrics else None,
        joint_visible=result.visibility,
    )


def save_prediction_npz(path: str | Path, result: EgoHMRResult) -> Path:
    """Write every array of the result (``betas``, ``global_orient_rotmat_pv``, ``body_pose_rotmat``, ``transl_pv``,
    ``vertices_pv``, ``joints_pv``, ``faces``, ``scene_points_pv``, ``visibility``, ...) to a compressed npz."""
    from egohmr.files import atomic_open

    arrays = {
        "betas": result.betas,
        "global_orient_rotmat_pv": result.global_orient_rotmat_pv,
        "body_pose_rotmat": result.body_pose_rotmat,
        "transl_pv": result.transl_pv,
        "vertices_pv": result.vertices_pv,
        "joints_pv": result.joints_pv,
        "faces": result.faces,
        "scene_points_pv": result.scene_points_pv,
        "visibility": result.visibility,
        "stage1_joints_pv": result.stage1_joints_pv,
        "bbox_center_px": result.bbox_center_px,
        "bbox_size_px": np.float64(result.bbox_size_px),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path
