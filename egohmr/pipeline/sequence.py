"""Run a `egohmr.recordings.Recording` through `EgoHMRPipeline` (stage 1 frame by frame, stage 2 batched across
frames); gather the sequence's results in the PV frame of every frame and in the recording's scene frame.

::

    rec = load_recording("frames/", "openpose/", scene="room.obj", intrinsics="cam.json", poses="poses.json")
    seq = run_sequence(pipe, rec, settings, seed=0, progress=lambda done, total, name: ...)
    seq.arrays()["vertices_scene"]  # (N, S, V, 3) metres, scene frame

Every random draw of a frame comes from the frame's streams of ``seed`` and its name (the image file stem;
`EgoHMRPipeline` ``frame_key``): a frame's prediction does not depend on which frames precede it or share its
stage-2 batch, equals a single `EgoHMRPipeline` call with the same inputs, seed and key, and, for a recording exported
from an EgoBody-format dataset, matches ``egohmr test stage1`` + ``test stage2`` on the original (docs/infer.md).

Scene frame: ``inverse(world2pv)`` of each frame maps its PV-frame results to the scene (y up, metres). Without
poses the scene is taken to be in every frame's camera frame, so the "scene frame" results are the PV-frame ones and
``scene_frame`` says "camera".

Smoothing (`smooth_mode_translation`, not in the paper, off by default): a centred moving average of the mode
sample's translation in the scene frame over `SMOOTH_WINDOW` frames (narrower at the ends); the mode sample's vertices
and joints are shifted by the change, so its pose and shape are untouched and other samples are not changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from egohmr.data.images import read_rgb
from egohmr.geometry.frames import apply_transform
from egohmr.pipeline.core import EgoHMRPipeline, EgoHMRResult, FrameInputs
from egohmr.recordings import Recording, RecordingFrame
from egohmr.recordings.recording import Z_UP_TO_Y_UP
from egohmr.stage2.config import Stage2TestConfig

__all__ = ["SMOOTH_WINDOW", "SequenceResult", "run_sequence", "scene_mesh_of", "smooth_mode_translation"]

SMOOTH_WINDOW = 5
"""Frames in the centred moving average of `smooth_mode_translation`."""
MODE = 0
"""Index of the mode sample in every result."""

Progress = Callable[[int, int, str], None]
"""``progress(frames_done, num_frames, frame_name)``, called after each frame."""


def _load_rgb(frame: RecordingFrame) -> np.ndarray:
    return read_rgb(frame.image_path, f"frame {frame.name!r}")


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0; near the ends the window shrinks symmetrically (the first and last frames
    are kept, a constant-velocity motion stays unchanged).

    Args:
        values: (N, ...) float. window: odd number of frames.

    Returns:
        (N, ...) float64.
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"smoothing window must be an odd number >= 1, got {window}")
    n = len(values)
    radius = [min(window // 2, i, n - 1 - i) for i in range(n)]
    return np.stack([np.mean(values[i - r : i + r + 1], axis=0) for i, r in enumerate(radius)])


@dataclass(frozen=True)
class SequenceResult:
    """Predictions of every usable frame of a recording, in frame order.

    Attributes:
        frames: the frames (`RecordingFrame`), N of them.
        results: one `EgoHMRResult` per frame (PV frame of that frame, as the pipeline returns them).
        pv2scene: (N, 4, 4) float64 PV -> scene transforms (identity without poses).
        scene_frame: "scene" (poses given) or "camera" (no poses: the scene is each frame's camera frame).
        smoothed: True when `smooth_mode_translation` was applied to the mode sample.
        mode_offset_scene: (N, 3) float64 metres, scene frame: what smoothing added to the mode sample's translation
            (zeros when not smoothed).
    """

    frames: tuple[RecordingFrame, ...]
    results: tuple[EgoHMRResult, ...]
    pv2scene: np.ndarray
    scene_frame: Literal["scene", "camera"]
    smoothed: bool
    mode_offset_scene: np.ndarray

    def mode_offset_pv(self) -> np.ndarray:
        """(N, 3) smoothing offsets of the mode sample in each frame's PV frame (rotated, not translated)."""
        return np.einsum("nji,nj->ni", self.pv2scene[:, :3, :3], self.mode_offset_scene)

    def to_scene(self, points_pv: np.ndarray) -> np.ndarray:
        """(N, ..., 3) points in each frame's PV frame -> the scene frame, float32."""
        n = len(points_pv)
        flat = np.asarray(points_pv, np.float64).reshape(n, -1, 3)
        return apply_transform(self.pv2scene, flat).reshape(points_pv.shape).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        """The sequence as arrays (N frames, S samples, V vertices; metres; mode sample at index 0; smoothing, when
        applied, is included in the mode sample of ``*_pv`` and ``*_scene``).

        Keys: ``frame_names`` (N,), ``image_paths`` (N,), ``intrinsics`` (N, 4) px, ``bbox_px`` (N, 4),
        ``world2pv`` / ``pv2scene`` (N, 4, 4), ``betas`` (N, S, 10), ``global_orient_rotmat_pv`` (N, S, 3, 3),
        ``body_pose_rotmat`` (N, S, 23, 3, 3), ``transl_pv`` (N, S, 3), ``vertices_pv`` (N, S, V, 3), ``joints_pv``
        (N, S, 24, 3), ``transl_scene``, ``vertices_scene``, ``joints_scene`` (same shapes, scene frame),
        ``stage1_transl_pv`` (N, 3) (before smoothing), ``visibility`` (N, 24) bool, ``faces`` (F, 3).
        """
        n = len(self.results)
        num_samples = self.results[0].num_samples
        offset_pv = self.mode_offset_pv().astype(np.float32)  # (N, 3)
        shift = np.zeros((n, num_samples, 1, 3), np.float32)
        shift[:, MODE, 0] = offset_pv
        stage1_transl = np.stack([r.transl_pv for r in self.results])  # (N, 3)
        transl_pv = np.repeat(stage1_transl[:, None], num_samples, axis=1) + shift[:, :, 0]
        vertices_pv = np.stack([r.vertices_pv for r in self.results]) + shift
        joints_pv = np.stack([r.joints_pv for r in self.results]) + shift
        return {
            "frame_names": np.array([f.name for f in self.frames]),
            "image_paths": np.array([str(f.image_path) for f in self.frames]),
            "intrinsics": np.array([f.intrinsics for f in self.frames], np.float64),
            "bbox_px": np.array([f.bbox_px for f in self.frames], np.float64),
            "world2pv": np.linalg.inv(self.pv2scene),
            "pv2scene": self.pv2scene,
            "betas": np.stack([r.betas for r in self.results]),
            "global_orient_rotmat_pv": np.stack([r.global_orient_rotmat_pv for r in self.results]),
            "body_pose_rotmat": np.stack([r.body_pose_rotmat for r in self.results]),
            "transl_pv": transl_pv,
            "vertices_pv": vertices_pv,
            "joints_pv": joints_pv,
            "transl_scene": self.to_scene(transl_pv),
            "vertices_scene": self.to_scene(vertices_pv),
            "joints_scene": self.to_scene(joints_pv),
            "stage1_transl_pv": stage1_transl,
            "visibility": np.stack([r.visibility for r in self.results]),
            "faces": self.results[0].faces,
        }


def smooth_mode_translation(seq: SequenceResult, window: int = SMOOTH_WINDOW) -> SequenceResult:
    """`seq` with the mode sample's scene-frame translation replaced by its centred moving average over `window`
    frames (module docstring; not in the paper)."""
    transl_scene = seq.to_scene(np.stack([r.transl_pv for r in seq.results])).astype(np.float64)  # (N, 3)
    offset = moving_average(transl_scene, window) - transl_scene
    return SequenceResult(seq.frames, seq.results, seq.pv2scene, seq.scene_frame, True, offset)


def run_sequence(
    pipe: EgoHMRPipeline,
    recording: Recording,
    settings: Stage2TestConfig,
    *,
    seed: int = 0,
    smooth: bool = False,
    progress: Progress | None = None,
    on_frame: Callable[[RecordingFrame, np.ndarray, EgoHMRResult], None] | None = None,
) -> SequenceResult:
    """Predict every frame of `recording` (module docstring).

    Args:
        pipe: the pipeline. recording: checked inputs (`egohmr.recordings.load_recording`).
        settings: sampling settings (e.g. ``pipe.sampling_settings(overrides=...)``).
        seed: seed of every frame's random streams (replaces ``settings.seed``).
            Frames go through stage 2 ``settings.batch_size`` at a time, or as many as ``settings.max_memory_gb``
            allows (`EgoHMRPipeline.images_per_batch`); a frame's result does not depend on its batch.
        smooth: apply `smooth_mode_translation`.
        progress: called after each frame with (done, total, frame name).
        on_frame: called after each frame with (frame, its (H, W, 3) uint8 image, its result), e.g. to write outputs.

    Returns:
        SequenceResult.
    """
    results: list[EgoHMRResult] = []
    total = len(recording.frames)
    settings = dataclasses.replace(settings, seed=seed)

    def inputs(frame: RecordingFrame, image: np.ndarray) -> FrameInputs:
        points = recording.scene.points_scene
        return FrameInputs(
            image, frame.intrinsics, frame.bbox_px, points, frame.name, frame.world2pv, frame.keypoints_op25
        )

    images_per_batch = pipe.images_per_batch(inputs(recording.frames[0], _load_rgb(recording.frames[0])), settings)
    for start in range(0, total, images_per_batch):
        frames = recording.frames[start : start + images_per_batch]
        images = [_load_rgb(frame) for frame in frames]
        batch = pipe.predict_frames([inputs(f, im) for f, im in zip(frames, images, strict=True)], settings)
        for frame, image, result in zip(frames, images, batch, strict=True):
            results.append(result)
            if on_frame is not None:
                on_frame(frame, image, result)
            if progress is not None:
                progress(len(results), total, frame.name)
    eye = np.eye(4)
    pv2scene = np.stack([eye if f.world2pv is None else np.linalg.inv(f.world2pv) for f in recording.frames])
    seq = SequenceResult(
        frames=recording.frames,
        results=tuple(results),
        pv2scene=pv2scene,
        scene_frame="camera" if recording.scene_in_camera_frame else "scene",
        smoothed=False,
        mode_offset_scene=np.zeros((total, 3)),
    )
    return smooth_mode_translation(seq) if smooth else seq


def scene_mesh_of(recording: Recording, up_axis: Literal["y", "z"] = "y") -> tuple[np.ndarray, np.ndarray] | None:
    """The recording's scene mesh in the scene frame (turned y-up as `load_recording` turns its points), or None
    when the scene is a point cloud.

    Returns:
        (vertices (M, 3) float64 metres, faces (G, 3) int64) or None.
    """
    if recording.scene.kind != "mesh":
        return None
    import trimesh

    mesh = trimesh.load(recording.scene.path, force="mesh", process=False)
    vertices = np.asarray(mesh.vertices, np.float64)
    if up_axis == "z":
        vertices = vertices @ Z_UP_TO_Y_UP[:3, :3].T
    return vertices, np.asarray(mesh.faces, np.int64)
