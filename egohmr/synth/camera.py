"""The camera wearer: a head-mounted HoloLens2-like PV camera moving smoothly in the scene.

Frames: scene (y-up, metres) and PV camera with OpenCV axes (x right, y down, z forward). Intrinsics follow the
HoloLens2 PV stream at 1920x1080: fx = fy ~ 1400-1500 px varying slightly per frame, principal point near the
image centre; for other image sizes they are scaled with OpenCV pixel centres (``c' = (c + 0.5) s - 0.5``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from egohmr.data.egobody_format import invert_rigid_np

REF_WIDTH_PX = 1920
REF_HEIGHT_PX = 1080


@dataclass(frozen=True)
class Intrinsics:
    """Per-frame intrinsics, each (T,) float64 px."""

    fx: np.ndarray
    fy: np.ndarray
    cx: np.ndarray
    cy: np.ndarray


def sample_intrinsics(rng: np.random.Generator, num_frames: int, width: int, height: int) -> Intrinsics:
    """HoloLens2-like PV intrinsics: a focal length in [1400, 1500] px at 1920 px width with a slow per-frame
    drift of about 1 px, principal point within ~15 px of the centre, all scaled to ``width`` x ``height``."""
    s = width / REF_WIDTH_PX
    f0 = rng.uniform(1400.0, 1500.0)
    drift = np.cumsum(rng.normal(0.0, 0.4, num_frames))
    drift -= drift.mean()
    f = f0 + np.clip(drift, -4, 4)
    cx0 = REF_WIDTH_PX / 2 + rng.uniform(-15, 15)
    cy0 = REF_HEIGHT_PX / 2 + rng.uniform(-15, 15)
    cx = cx0 + rng.normal(0, 0.3, num_frames)
    cy = cy0 + rng.normal(0, 0.3, num_frames)
    sy = height / REF_HEIGHT_PX
    return Intrinsics(fx=f * s, fy=f * sy, cx=(cx + 0.5) * s - 0.5, cy=(cy + 0.5) * sy - 0.5)


def look_at(eye: np.ndarray, target: np.ndarray, roll_rad: np.ndarray | float = 0.0) -> np.ndarray:
    """Camera-to-scene rotations looking from ``eye`` at ``target`` (OpenCV axes, scene up = +y).

    Args:
        eye, target: (T, 3) float64 scene points. roll_rad: (T,) or scalar roll about the optical axis.

    Returns:
        (T, 3, 3) rotations whose columns are the camera x (right), y (down), z (forward) axes in the scene frame.
    """
    z = target - eye
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    x = np.cross(z, np.array([0.0, 1.0, 0.0]))
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    y = np.cross(z, x)
    roll = np.broadcast_to(np.asarray(roll_rad, float), z.shape[:-1])[..., None]
    x, y = np.cos(roll) * x + np.sin(roll) * y, -np.sin(roll) * x + np.cos(roll) * y
    return np.stack([x, y, z], axis=-1)


def smooth_noise(rng: np.random.Generator, times_s: np.ndarray, amplitude: float, n_terms: int = 3) -> np.ndarray:
    """A smooth random signal: a sum of ``n_terms`` low-frequency sinusoids (0.05-0.5 Hz), peak about
    ``amplitude``. Returns (T,) float64."""
    out = np.zeros_like(times_s, dtype=np.float64)
    for _ in range(n_terms):
        out += np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * times_s + rng.uniform(0, 2 * np.pi))
    return out * amplitude / n_terms


@dataclass(frozen=True)
class WearerTrajectory:
    """Camera poses of one recording: ``cam2scene`` (T, 4, 4) float64 (OpenCV camera axes -> scene)."""

    cam2scene: np.ndarray

    @property
    def scene2cam(self) -> np.ndarray:
        """(T, 4, 4) float64 scene -> camera (OpenCV axes)."""
        return invert_rigid_np(self.cam2scene)


def wearer_trajectory(
    rng: np.random.Generator,
    times_s: np.ndarray,
    eye0_scene: np.ndarray,
    target_scene: np.ndarray,
    drift_m: float = 0.15,
    look_jitter_m: float = 0.25,
) -> WearerTrajectory:
    """Smooth head motion: the eye drifts a little around ``eye0_scene`` (head bob, small steps) and looks at a
    moving point around ``target_scene`` (per-frame (T, 3) or (3,)), with a small roll.

    Returns:
        WearerTrajectory with (T, 4, 4) camera-to-scene transforms.
    """
    T = len(times_s)
    eye = np.repeat(np.asarray(eye0_scene, float)[None], T, axis=0)
    for k in range(3):
        amp = drift_m * (0.25 if k == 1 else 1.0)
        eye[:, k] += smooth_noise(rng, times_s, amp)
    eye[:, 1] += 0.01 * np.sin(2 * np.pi * 1.8 * times_s + rng.uniform(0, 6.3))
    target = np.broadcast_to(np.asarray(target_scene, float), (T, 3)).copy()
    for k in range(3):
        target[:, k] += smooth_noise(rng, times_s, look_jitter_m * (0.7 if k == 1 else 1.0))
    roll = np.radians(rng.uniform(-4, 4)) + smooth_noise(rng, times_s, np.radians(3.0))
    R = look_at(eye, target, roll)
    cam2scene = np.zeros((T, 4, 4))
    cam2scene[:, :3, :3] = R
    cam2scene[:, :3, 3] = eye
    cam2scene[:, 3, 3] = 1.0
    return WearerTrajectory(cam2scene)
