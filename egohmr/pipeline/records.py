"""From an `EgoHMRResult` to the files of `egohmr.outputs` (frame record, overlay, scene view, .glb) and a
prediction `.npz`; from a `SequenceResult` to the sequence files (`egohmr.outputs.sequence_outputs`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from egohmr.body.identity import body_model_id
from egohmr.pipeline.core import EgoHMRResult
from egohmr.pipeline.sequence import MODE, SequenceResult

__all__ = [
    "PREDICTIONS_DIR",
    "SequenceFiles",
    "frame_prediction_path",
    "result_record",
    "save_prediction_npz",
    "write_frame_prediction",
    "write_sequence_files",
]


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


def save_prediction_npz(path: str | Path, result: EgoHMRResult, body_model: str | None = None) -> Path:
    """Write every array of the result (``betas``, ``global_orient_rotmat_pv``, ``body_pose_rotmat``, ``transl_pv``,
    ``vertices_pv``, ``joints_pv``, ``faces``, ``scene_points_pv``, ``visibility``, ...) to a compressed npz, with
    ``body_model`` (the body model the samples are posed with, e.g. ``open-lowres``) and ``body_model_sha256``
    (`egohmr.body.identity.body_model_id`) when given."""
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
    if body_model is not None:
        identity = body_model_id(body_model)
        arrays["body_model"] = np.array(identity["name"])
        arrays["body_model_sha256"] = np.array(identity["sha256"])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path


PREDICTIONS_DIR = "predictions"
"""Folder of the per-frame `save_prediction_npz` files of a sequence run (``frames/`` holds only frame records)."""


def frame_prediction_path(out_dir: str | Path, stem: str) -> Path:
    """``out_dir/predictions/<stem>.npz``: a frame's `save_prediction_npz` file in a sequence run."""
    return Path(out_dir) / PREDICTIONS_DIR / f"{stem}.npz"


def write_frame_prediction(out_dir: str | Path, frame: Any, image: np.ndarray, result: EgoHMRResult, body_model: str):
    """Every per-frame file of a `egohmr.recordings.RecordingFrame`'s prediction, named by the frame's stem: the
    `egohmr.outputs` files and ``predictions/<stem>.npz``. Returns the `FrameOutputs`."""
    from egohmr.outputs import frame_stem, write_frame_outputs

    stem = frame_stem(frame.name)
    record = result_record(frame.image_path.name, image, frame.intrinsics, frame.bbox_px, result)
    paths = write_frame_outputs(record, out_dir, stem=stem, image=image)
    save_prediction_npz(frame_prediction_path(out_dir, stem), result, body_model)
    return paths


@dataclass(frozen=True)
class SequenceFiles:
    """Paths written by `write_sequence_files`."""

    results: Path
    glb: Path


def write_sequence_files(
    out_dir: str | Path,
    run_name: str,
    seq: SequenceResult,
    metadata: Mapping[str, Any],
    scene_mesh: tuple[np.ndarray, np.ndarray] | None,
    scene_points: np.ndarray,
) -> SequenceFiles:
    """Write ``sequence_<run_name>.npz`` (`SequenceResult.arrays`, the room of `room_arrays` for `egohmr view`,
    metadata) and ``sequence_<run_name>.glb`` (the scene and each frame's mode body, scene frame).

    Args:
        out_dir: output folder. run_name: `egohmr.outputs.sequence_outputs.new_run_name`.
        seq: the sequence. metadata: JSON-able facts (scene frame, checkpoints, notes, ...); a ``body_model``
            source gets its ``body_model_sha256`` (`egohmr.body.identity.body_model_id`) added.
        scene_mesh: (vertices (M, 3), faces (G, 3)) of the room in the scene frame, or None.
        scene_points: (P, 3) scene points, scene frame (the .glb shows them when there is no mesh).
    """
    from egohmr.outputs.sequence_outputs import SEQUENCE_PREFIX, export_sequence_glb, room_arrays, save_sequence_results

    if "body_model" in metadata:
        metadata = {**metadata, "body_model_sha256": body_model_id(metadata["body_model"])["sha256"]}
    arrays = seq.arrays()
    base = Path(out_dir) / f"{SEQUENCE_PREFIX}{run_name}"
    room = room_arrays(scene_mesh, scene_points)  # what `egohmr view` shows of the room
    results = save_sequence_results(base.with_suffix(".npz"), {**arrays, **room}, metadata)
    glb = export_sequence_glb(
        base.with_suffix(".glb"),
        [str(n) for n in arrays["frame_names"]],
        arrays["vertices_scene"][:, MODE],
        arrays["faces"],
        seq.scene_frame,
        scene_mesh=scene_mesh,
        scene_points=None if scene_mesh is not None else scene_points,
    )
    return SequenceFiles(results, glb)
