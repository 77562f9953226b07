"""Input digests of the scene preprocessing jobs (their `egohmr.jobs.JobManifest` inputs)."""

from __future__ import annotations

from pathlib import Path

from egohmr.data import egobody_format as ebf
from egohmr.jobs import file_digest

__all__ = ["scene_input_digests"]


def scene_input_digests(root: str | Path, split: str, recordings: list[str]) -> dict[str, str]:
    """Content digests of what scene preprocessing reads for `recordings` of `split`.

    Returns:
        {"annotations": npz of the split, "transforms": transf_matrices_all_seqs.pkl, "data_info":
        data_info_release.csv, "kinect2scene/<recording>": each calibration, "scene_mesh/<scene>": each mesh used}.
    """
    digests = {
        "annotations": file_digest(ebf.annotation_path(root, split)),
        "transforms": file_digest(ebf.transf_matrices_path(root)),
        "data_info": file_digest(ebf.data_info_path(root)),
    }
    info_path = ebf.data_info_path(root)
    rec2scene = ebf.recording_to_scene(info_path)
    for rec in sorted(set(recordings)):
        if rec not in rec2scene:
            raise ValueError(f"{info_path}: unknown recording {rec!r} (column 'recording_name')")
        scene = rec2scene[rec]
        digests[f"kinect2scene/{rec}"] = file_digest(ebf.kinect2scene_path(root, rec, scene))
        digests[f"scene_mesh/{scene}"] = file_digest(ebf.scene_mesh_path(root, scene))
    return digests
