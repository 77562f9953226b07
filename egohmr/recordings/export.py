"""Export one recording of an EgoBody-format dataset (the official release or `egohmr synth` output) to the user
formats `load_recording` reads: an example of each format, and the ground truth of the tests.

Written under ``out``::

    frames/<timestamp>_frame_XXXXX.jpg      the PV images
    openpose/<frame>_keypoints.json         OpenPose BODY_25 from ``valid_keypoints`` (undetected joints 0, 0, 0)
    keypoints_coco17.json                   COCO dataset (images + annotations), visibility flags 2 / 0
    keypoints_coco_wholebody.json           COCO-WholeBody results list (file_name, 133 keypoints, confidences)
    boxes.json                              {frame: [x1, y1, x2, y2]}: the annotation's box (``center`` +- ``scale``
                                            * 200 / 2), the box ``egohmr test`` crops
    room.obj                                the scene mesh (scene frame, metres)
    intrinsics.json                         {"width", "height", "frames": {frame: {fx, fy, cx, cy}}}
    poses.json                              {"axes": "opencv", "camera_to_scene": {frame: 4x4}}

Undetected joints (confidence 0) are written as 0, 0, 0 in every format.

The keypoints' box (what ``infer --keypoints`` crops without ``--bbox``) has the annotation's centre and side up to
the float32 rounding of ``center``/``scale`` (about 1e-5 px); ``--bbox boxes.json`` gives infer the annotation's box
itself, so its crop equals ``egohmr test``'s bit for bit.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from egohmr.constants import BBOX_SCALE_UNIT_PX
from egohmr.data import egobody_format as fmt
from egohmr.recordings.frames import image_size
from egohmr.recordings.keypoint_maps import op25_to_coco

__all__ = ["ExportedRecording", "export_egobody_recording", "recording_annotation"]

COCO_VISIBLE, COCO_UNLABELLED = 2, 0


@dataclass(frozen=True)
class ExportedRecording:
    """Paths of an exported recording (module docstring) and its name."""

    recording: str
    frames_dir: Path
    openpose_dir: Path
    coco17_json: Path
    coco_wholebody_json: Path
    boxes_json: Path
    scene_obj: Path
    intrinsics_json: Path
    poses_json: Path
    num_frames: int


def recording_annotation(root: str | Path, recording: str) -> dict[str, np.ndarray]:
    """The annotation fields of `recording`'s frames from every split, sorted by ``imgname``.

    Raises:
        ValueError: no frame of `recording` in the annotations.
    """
    parts = [fmt.read_annotation_npz(fmt.annotation_path(root, s)) for s in fmt.SPLITS]
    parts = [p for p in parts if len(p.get("imgname", ()))]
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    keep = np.flatnonzero([fmt.parse_imgname(n).recording == recording for n in data["imgname"]])
    if keep.size == 0:
        raise ValueError(f"{root}: no annotated frame of recording {recording!r}")
    keep = keep[np.argsort(data["imgname"][keep])]
    return {k: v[keep] for k, v in data.items()}


def _openpose_json(kp: np.ndarray) -> dict[str, Any]:
    return {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": kp.reshape(-1).tolist()}]}


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1))


def export_egobody_recording(root: str | Path, out: str | Path, recording: str | None = None) -> ExportedRecording:
    """Write `recording` of the dataset at `root` in the user formats under `out` (module docstring).

    Args:
        root: EgoBody-format dataset root. out: output folder (created).
        recording: recording name; None: the first of ``data_info_release.csv``.

    Returns:
        ExportedRecording.
    """
    root, out = Path(root), Path(out)
    scenes = fmt.recording_to_scene(fmt.data_info_path(root))
    recording = recording if recording is not None else next(iter(scenes))
    scene = scenes[recording]
    ann = recording_annotation(root, recording)
    transforms = fmt.read_transf_matrices(fmt.transf_matrices_path(root))[recording]
    kinect2scene = fmt.read_kinect2scene(fmt.kinect2scene_path(root, recording, scene))

    frames_dir, openpose_dir = out / "frames", out / "openpose"
    frames_dir.mkdir(parents=True, exist_ok=True)
    openpose_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fmt.scene_mesh_path(root, scene), out / "room.obj")
    width, height = image_size(root / ann["imgname"][0])

    images, coco17, wholebody, cameras, cam2scene, boxes = [], [], [], {}, {}, {}
    for i, imgname in enumerate(ann["imgname"]):
        src = root / imgname
        name = src.stem
        shutil.copyfile(src, frames_dir / src.name)
        kp = ann["valid_keypoints"][i].astype(np.float64)  # (25, 3)
        kp = np.where(kp[:, 2:3] > 0, kp, 0.0)  # undetected joints as OpenPose writes them: 0, 0, 0
        _write_json(openpose_dir / f"{name}_keypoints.json", _openpose_json(kp))
        xy17 = op25_to_coco(kp)  # (17, 3)
        flags = np.where(xy17[:, 2:3] > 0, COCO_VISIBLE, COCO_UNLABELLED)  # (17, 1)
        kp17 = np.concatenate([xy17[:, :2], flags], axis=1) * (flags > 0)  # (17, 3), unlabelled = 0, 0, 0
        images.append({"id": i + 1, "file_name": src.name, "width": width, "height": height})
        coco17.append(
            {"id": i + 1, "image_id": i + 1, "category_id": 1, "keypoints": kp17.reshape(-1).tolist(),
             "num_keypoints": int((flags > 0).sum())}
        )  # fmt: skip
        kp133 = op25_to_coco(kp, wholebody=True)
        wholebody.append(
            {"file_name": src.name, "category_id": 1, "keypoints": kp133.reshape(-1).tolist(), "score": 1.0}
        )
        cameras[name] = {k: float(ann[k][i]) for k in ("fx", "fy", "cx", "cy")}
        (cx, cy), half = ann["center"][i].astype(np.float64), float(ann["scale"][i]) * BBOX_SCALE_UNIT_PX / 2
        boxes[name] = [cx - half, cy - half, cx + half, cy + half]
        world2pv = transforms.world2pv[fmt.parse_imgname(imgname).timestamp]
        scene2pv = fmt.scene2pv(kinect2scene, transforms.kinect2holo, world2pv)
        cam2scene[name] = fmt.invert_rigid_np(scene2pv).tolist()

    categories = [{"id": 1, "name": "person"}]
    _write_json(out / "keypoints_coco17.json", {"images": images, "annotations": coco17, "categories": categories})
    _write_json(out / "keypoints_coco_wholebody.json", wholebody)
    _write_json(out / "boxes.json", boxes)
    _write_json(out / "intrinsics.json", {"width": width, "height": height, "frames": cameras})
    _write_json(out / "poses.json", {"axes": "opencv", "camera_to_scene": cam2scene})
    return ExportedRecording(
        recording=recording,
        frames_dir=frames_dir,
        openpose_dir=openpose_dir,
        coco17_json=out / "keypoints_coco17.json",
        coco_wholebody_json=out / "keypoints_coco_wholebody.json",
        boxes_json=out / "boxes.json",
        scene_obj=out / "room.obj",
        intrinsics_json=out / "intrinsics.json",
        poses_json=out / "poses.json",
        num_frames=len(ann["imgname"]),
    )
