"""`load_recording`: frames, 2D keypoints or boxes, a scene, intrinsics and camera poses -> a checked `Recording`
with, for every frame, what `EgoHMRPipeline` takes (image path, intrinsics, body box, keypoints, ``world2pv``).

::

    rec = load_recording("frames/", "openpose/", scene="room.obj", intrinsics="cam.json", poses="poses.json")
    for f in rec.frames:
        pipe(image_of(f.image_path), f.intrinsics, f.bbox_px, rec.scene.points_scene, world2pv=f.world2pv,
             keypoints_op25=f.keypoints_op25)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from egohmr.geometry.frames import apply_transform
from egohmr.recordings.boxes import read_boxes
from egohmr.recordings.frames import image_size, list_frames
from egohmr.recordings.intrinsics import resolve_intrinsics
from egohmr.recordings.keypoints import check_keypoints_in_image, read_keypoints
from egohmr.recordings.person import select_person
from egohmr.recordings.poses import read_world2pv
from egohmr.recordings.scene import ScenePoints, load_scene

__all__ = ["FAR_CAMERA_M", "Recording", "RecordingFrame", "load_recording"]

FAR_CAMERA_M = 2.0
"""Cameras this far outside the scene's bounding box are reported (poses inverted, or not in metres?)."""
Z_UP_TO_Y_UP = np.array([[1.0, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1]])
"""Scene frame with z up (Blender, Aria, many scanners) -> y up: (x, y, z) -> (x, z, -y), a rotation about x."""


@dataclass(frozen=True)
class RecordingFrame:
    """One frame, ready for the pipeline.

    Attributes:
        name: frame name (image file stem). image_path: the image.
        width_px, height_px: image size.
        intrinsics: (fx, fy, cx, cy) px.
        bbox_px: (x1, y1, x2, y2) body box, px.
        keypoints_op25: (25, 3) float64 OpenPose BODY_25 (x px, y px, confidence; confidences at or below the
            threshold set to 0), or None.
        visibility_source: "keypoints" or "bbox" (`egohmr.recordings.person.FramePerson`).
        num_people: people with keypoints in the frame; None when no keypoints were given.
        world2pv: (4, 4) float64 scene (y-up) -> camera (OpenCV axes), or None (the scene is in the camera frame).
    """

    name: str
    image_path: Path
    width_px: int
    height_px: int
    intrinsics: tuple[float, float, float, float]
    bbox_px: tuple[float, float, float, float]
    keypoints_op25: np.ndarray | None
    visibility_source: Literal["keypoints", "bbox"]
    num_people: int | None
    world2pv: np.ndarray | None

    def visibility_smpl24(self, loosen: bool) -> np.ndarray | None:
        """(24,) bool SMPL joint visibility from the keypoint confidences (official map, `egohmr.data.visibility`;
        ``loosen`` = the official test-time ``pelvis_vis_loosen``); None without keypoints."""
        if self.keypoints_op25 is None:
            return None
        import torch

        from egohmr.data.visibility import openpose_visibility_smpl24

        return openpose_visibility_smpl24(torch.from_numpy(self.keypoints_op25), loosen=loosen).numpy()


@dataclass(frozen=True)
class Recording:
    """A checked recording.

    Attributes:
        frames: the usable frames, in order.
        scene: the scene points (scene frame turned y-up, metres), file and sampling.
        scene_in_camera_frame: True without poses: the scene is taken to be in every frame's camera frame.
        intrinsics_from_fov: True when the intrinsics were guessed from a field of view.
        skipped_frames: names of frames without a usable person (no keypoint box and no bbox).
        notes: warnings and facts for the user, one sentence each.
    """

    frames: tuple[RecordingFrame, ...]
    scene: ScenePoints
    scene_in_camera_frame: bool
    intrinsics_from_fov: bool
    skipped_frames: tuple[str, ...]
    notes: tuple[str, ...]


def _far_cameras(world2pv: Sequence[np.ndarray], points_scene: np.ndarray) -> int:
    """How many camera centres lie more than FAR_CAMERA_M outside the scene's bounding box."""
    centres = np.stack([-T[:3, :3].T @ T[:3, 3] for T in world2pv])  # (N, 3) scene frame
    lo, hi = points_scene.min(axis=0) - FAR_CAMERA_M, points_scene.max(axis=0) + FAR_CAMERA_M
    return int(np.sum(np.any((centres < lo) | (centres > hi), axis=1)))


def _frames_with_a_person(
    frame_list: list[Any],
    sizes: list[tuple[int, int]],
    intrinsics: Sequence[tuple[float, float, float, float]],
    kp_table: Mapping[str, Any] | None,
    boxes: Sequence[Any],
    world2pv: Sequence[np.ndarray] | None,
    person: int | None,
    conf_threshold: float,
) -> tuple[list[RecordingFrame], list[str], list[str]]:
    """The frames with a usable person (`select_person`), the names of those without one and of those with several."""
    out: list[RecordingFrame] = []
    skipped: list[str] = []
    crowded: list[str] = []
    for i, frame in enumerate(frame_list):
        w, h = sizes[i]
        people = None
        where = f"frame {frame.name!r}"
        if kp_table is not None:
            kp = kp_table[frame.name]
            check_keypoints_in_image(kp, w, h, frame.name, conf_threshold)
            people, where = kp.people_op25, f"{kp.source} (frame {frame.name!r})"
        chosen = select_person(people, boxes[i], person, conf_threshold, where)
        if chosen is None:
            skipped.append(frame.name)
            continue
        if chosen.num_people is not None and chosen.num_people > 1:
            crowded.append(frame.name)
        out.append(
            RecordingFrame(
                name=frame.name,
                image_path=frame.path,
                width_px=w,
                height_px=h,
                intrinsics=intrinsics[i],
                bbox_px=chosen.bbox_px,
                keypoints_op25=chosen.keypoints_op25,
                visibility_source=chosen.visibility_source,
                num_people=chosen.num_people,
                world2pv=None if world2pv is None else world2pv[i],
            )
        )
    return out, skipped, crowded


def load_recording(
    frames: str | Path,
    keypoints: str | Path | None = None,
    *,
    scene: str | Path,
    intrinsics: str | Path | Sequence[float] | None = None,
    poses: str | Path | Sequence[Any] | Mapping[str, Any] | None = None,
    bbox: str | Path | Sequence[float] | Mapping[str, Sequence[float]] | None = None,
    person: int | None = None,
    fov_deg: float | None = None,
    conf_threshold: float = 0.0,
    recording: str | None = None,
    kinect2scene: str | Path | None = None,
    up_axis: Literal["y", "z"] = "y",
    rng: np.random.Generator | None = None,
) -> Recording:
    """Read and check every input of a recording (formats: docs/infer.md).

    Args:
        frames: an image or a folder of images (`egohmr.recordings.frames.list_frames`).
        keypoints: OpenPose folder/file or COCO(-WholeBody) JSON (`egohmr.recordings.keypoints`); None: use `bbox`.
        scene: mesh or point cloud file, metres (`egohmr.recordings.scene.load_scene`).
        intrinsics: JSON file or (fx, fy, cx, cy) px; None: from `fov_deg` (a note says so).
        poses: camera-to-scene poses (`egohmr.recordings.poses.read_world2pv`); None: the scene is in the camera
            frame of every frame.
        bbox: body box(es) (`egohmr.recordings.boxes.read_boxes`); with keypoints, the box wins and the keypoints
            of the person overlapping it most give the visibility.
        person: index of the person in every frame's keypoints; None: the largest (or the one matching `bbox`).
        fov_deg: horizontal field of view (degrees) when there are no intrinsics.
        conf_threshold: keypoints with confidence > this are used (official: 0).
        recording, kinect2scene: for EgoBody's ``transf_matrices_all_seqs.pkl`` poses.
        up_axis: the scene frame's vertical axis. The stage-2 crop takes the scene's y axis as up (EgoBody, HoloLens,
            ARKit, glTF); "z" (Blender, Aria, many scanners) turns the scene and the poses y-up.
        rng: draws the mesh surface samples; None: ``np.random.default_rng(0)`` (the same points every run).

    Returns:
        Recording.

    Raises:
        FileNotFoundError: a missing input. ValueError: a bad input (the message names the file, the frame and the
            field), neither keypoints nor bbox, or no frame with a usable person.
    """
    if keypoints is None and bbox is None:
        raise ValueError("give 2D keypoints or a bbox: neither was given, so the person cannot be found")
    if up_axis not in ("y", "z"):
        raise ValueError(f"up_axis must be 'y' or 'z', got {up_axis!r}")
    frame_list = list_frames(frames)
    sizes = [image_size(f.path) for f in frame_list]
    intr = resolve_intrinsics(intrinsics, frame_list, sizes, fov_deg)
    kp_table = read_keypoints(keypoints, frame_list) if keypoints is not None else None
    boxes = read_boxes(bbox, frame_list, sizes) if bbox is not None else [None] * len(frame_list)
    world2pv = read_world2pv(poses, frame_list, recording, kinect2scene) if poses is not None else None
    if world2pv is not None and up_axis == "z":
        world2pv = [T @ Z_UP_TO_Y_UP.T for T in world2pv]  # Z_UP_TO_Y_UP is a rotation: its inverse is its transpose

    notes: list[str] = []
    out, skipped, crowded = _frames_with_a_person(
        frame_list, sizes, intr.per_frame, kp_table, boxes, world2pv, person, conf_threshold
    )
    if not out:
        raise ValueError(
            f"no frame of {frames} has a usable person (>= 2 keypoints with confidence > {conf_threshold}, or a bbox)"
        )
    if skipped:
        notes.append(f"{len(skipped)} frames without a usable person were skipped (first: {skipped[0]!r})")
    if crowded:
        rule = f"person {person}" if person is not None else "the largest (or the one matching the bbox)"
        notes.append(f"{len(crowded)} frames show several people (first: {crowded[0]!r}); used {rule} in each")
    if intr.from_fov:
        fx = intr.per_frame[0][0]
        notes.append(f"no intrinsics: guessed from a horizontal field of view (fx = {fx:.0f} px); give real ones")

    scene_points = load_scene(scene, rng if rng is not None else np.random.default_rng(0))
    if up_axis == "z":
        turned = apply_transform(Z_UP_TO_Y_UP, scene_points.points_scene)
        scene_points = dataclasses.replace(scene_points, points_scene=turned)
        notes.append("scene z-up: scene and poses turned y-up (x, y, z) -> (x, z, -y)")
    if scene_points.kind == "mesh":
        how = "sampled to" if scene_points.surface_sampled else "a scan (no edge over 5 cm): its"
        notes.append(
            f"scene mesh {scene_points.path.name}: {scene_points.surface_area_m2:.1f} m^2, {how} "
            f"{len(scene_points.points_scene)} points ({scene_points.density_per_m2:.0f} per m^2)"
        )
    if world2pv is None:
        notes.append("no camera poses: the scene is taken to be in each frame's camera frame (OpenCV axes)")
    else:
        far = _far_cameras([f.world2pv for f in out], scene_points.points_scene)
        if far:
            notes.append(
                f"{far} of {len(out)} cameras are more than {FAR_CAMERA_M:g} m outside the scene's bounding box: are "
                "the poses camera-to-scene (not scene-to-camera), in metres and in the scene's frame?"
            )
    return Recording(
        frames=tuple(out),
        scene=scene_points,
        scene_in_camera_frame=world2pv is None,
        intrinsics_from_fov=intr.from_fov,
        skipped_frames=tuple(skipped),
        notes=tuple(notes),
    )
