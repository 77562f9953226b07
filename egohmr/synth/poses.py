"""A built-in library of SMPL body poses and short motions (axis-angle, SMPL joint order).

Joint rotations are written as sequences of elementary rotations in degrees, applied in the order listed, in the
frame of the parent joint (SMPL rest frame: y up, body facing +z, left = +x, T-pose). Useful facts for reading the
table: hip flexion (thigh forward) is a negative rotation about x, knee flexion positive about x, spine bending
forward positive about x; a left arm (along +x) goes down with a negative rotation about z, a right arm with a
positive one; elbow flexion is about y (negative for the left arm, positive for the right).

A motion adds sinusoids (``amplitude * sin(2 pi f t + phase)``) about a parent-frame axis of some joints; per-joint
noise is a small random rotation (hinge joints only flex, and only within their range).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.spatial.transform import Rotation

from egohmr.constants import SMPL_JOINT_NAMES

Placement = Literal["stand", "walk", "sit", "crouch", "lean"]
Step = tuple[str, float]  # (axis "x"|"y"|"z", degrees)
_BODY_JOINTS = SMPL_JOINT_NAMES[1:]
HINGES: dict[str, tuple[str, float, float]] = {  # joint -> (axis, min deg, max deg) of the flexion
    "left_knee": ("x", 0.0, 150.0),
    "right_knee": ("x", 0.0, 150.0),
    "left_elbow": ("y", -150.0, 0.0),
    "right_elbow": ("y", 0.0, 150.0),
}

ARMS_DOWN: dict[str, list[Step]] = {
    "left_shoulder": [("z", -68.0)],
    "right_shoulder": [("z", 68.0)],
    "left_elbow": [("y", -12.0)],
    "right_elbow": [("y", 12.0)],
}
SIT_LEGS: dict[str, list[Step]] = {
    "left_hip": [("x", -88.0), ("y", 6.0)],
    "right_hip": [("x", -88.0), ("y", -6.0)],
    "left_knee": [("x", 88.0)],
    "right_knee": [("x", 88.0)],
}
HANDS_ON_LAP: dict[str, list[Step]] = {
    "left_shoulder": [("z", -70.0), ("x", -25.0)],
    "right_shoulder": [("z", 70.0), ("x", -25.0)],
    "left_elbow": [("y", -65.0)],
    "right_elbow": [("y", 65.0)],
}


@dataclass(frozen=True)
class Oscillation:
    """``joint`` rotates about parent-frame ``axis`` by ``amplitude_deg * sin(2 pi freq_hz t + phase)``."""

    joint: str
    axis: str
    amplitude_deg: float
    freq_hz: float
    phase: float = 0.0


@dataclass(frozen=True)
class PoseSpec:
    """A named pose: placement kind, base joint rotations and the oscillations of its motion."""

    name: str
    placement: Placement
    base: dict[str, list[Step]]
    motion: tuple[Oscillation, ...] = ()
    weight: float = 1.0
    seat_kinds: tuple[str, ...] = ()


def _merge(*parts: dict[str, list[Step]]) -> dict[str, list[Step]]:
    out: dict[str, list[Step]] = {}
    for p in parts:
        out.update(p)
    return out


def _walk_motion(freq: float = 0.9) -> tuple[Oscillation, ...]:
    return (
        Oscillation("left_hip", "x", 24.0, freq, 0.0),
        Oscillation("right_hip", "x", 24.0, freq, np.pi),
        Oscillation("left_knee", "x", 18.0, freq, -np.pi / 2),
        Oscillation("right_knee", "x", 18.0, freq, np.pi / 2),
        Oscillation("left_shoulder", "x", 18.0, freq, np.pi),
        Oscillation("right_shoulder", "x", 18.0, freq, 0.0),
        Oscillation("spine2", "y", 4.0, freq, 0.0),
    )


POSE_LIBRARY: tuple[PoseSpec, ...] = (
    PoseSpec(
        "stand_idle",
        "stand",
        _merge(ARMS_DOWN),
        (Oscillation("head", "y", 20.0, 0.2), Oscillation("spine1", "z", 3.0, 0.3)),
        1.0,
    ),
    PoseSpec(
        "stand_wave",
        "stand",
        _merge(ARMS_DOWN, {"right_shoulder": [("x", -90.0), ("z", -15.0)], "right_elbow": [("y", 95.0)]}),
        (Oscillation("right_elbow", "y", 25.0, 1.4), Oscillation("head", "y", 10.0, 0.3)),
        1.0,
    ),
    PoseSpec(
        "stand_point",
        "stand",
        _merge(ARMS_DOWN, {"right_shoulder": [("y", 75.0), ("z", 10.0)], "right_elbow": [("y", 5.0)]}),
        (Oscillation("right_shoulder", "y", 15.0, 0.25), Oscillation("spine2", "y", 8.0, 0.25)),
        0.8,
    ),
    PoseSpec(
        "stand_reach_up",
        "stand",
        _merge(
            ARMS_DOWN,
            {"left_shoulder": [("y", -30.0), ("z", 55.0)], "right_shoulder": [("y", 30.0), ("z", -55.0)]},
            {"spine3": [("x", -8.0)], "head": [("x", -15.0)]},
        ),
        (Oscillation("left_shoulder", "z", 12.0, 0.4), Oscillation("right_shoulder", "z", 12.0, 0.4, np.pi)),
        0.6,
    ),
    PoseSpec(
        "stand_phone",
        "stand",
        _merge(
            ARMS_DOWN,
            HANDS_ON_LAP,
            {"left_elbow": [("y", -105.0)], "right_elbow": [("y", 105.0)]},
            {"head": [("x", 25.0)], "neck": [("x", 10.0)]},
        ),
        (Oscillation("head", "x", 6.0, 0.3),),
        0.6,
    ),
    PoseSpec(
        "stand_open_arms",
        "stand",
        {
            "left_shoulder": [("z", -55.0), ("y", 25.0)],
            "right_shoulder": [("z", 55.0), ("y", -25.0)],
            "left_elbow": [("y", -100.0)],
            "right_elbow": [("y", 100.0)],
        },
        (Oscillation("spine1", "y", 10.0, 0.25), Oscillation("head", "y", 15.0, 0.35)),
        0.5,
    ),
    PoseSpec("walk", "walk", _merge(ARMS_DOWN, {"spine1": [("x", 4.0)]}), _walk_motion(), 1.2),
    PoseSpec(
        "crouch",
        "crouch",
        _merge(
            HANDS_ON_LAP,
            {
                "left_hip": [("x", -115.0), ("y", 15.0)],
                "right_hip": [("x", -115.0), ("y", -15.0)],
                "left_knee": [("x", 135.0)],
                "right_knee": [("x", 135.0)],
                "left_ankle": [("x", -15.0)],
                "right_ankle": [("x", -15.0)],
                "spine1": [("x", 20.0)],
                "spine2": [("x", 8.0)],
                "head": [("x", -15.0)],
            },
        ),
        (Oscillation("head", "y", 15.0, 0.3),),
        0.6,
    ),
    PoseSpec(
        "lean_table",
        "lean",
        {
            "spine1": [("x", 22.0)],
            "spine2": [("x", 12.0)],
            "spine3": [("x", 6.0)],
            "head": [("x", -25.0)],
            "left_shoulder": [("z", -65.0), ("x", -40.0)],
            "right_shoulder": [("z", 65.0), ("x", -40.0)],
            "left_elbow": [("y", -10.0)],
            "right_elbow": [("y", 10.0)],
        },
        (Oscillation("head", "y", 12.0, 0.3),),
        0.8,
    ),
    PoseSpec(
        "sit_hands_lap",
        "sit",
        _merge(SIT_LEGS, HANDS_ON_LAP),
        (Oscillation("head", "y", 20.0, 0.25), Oscillation("spine2", "y", 5.0, 0.2)),
        1.5,
        ("chair", "sofa", "bed"),
    ),
    PoseSpec(
        "sit_talking",
        "sit",
        _merge(SIT_LEGS, HANDS_ON_LAP, {"right_shoulder": [("z", 60.0), ("x", -55.0)], "right_elbow": [("y", 80.0)]}),
        (
            Oscillation("right_shoulder", "x", 15.0, 0.7),
            Oscillation("right_elbow", "y", 15.0, 0.9),
            Oscillation("head", "y", 12.0, 0.3),
        ),
        1.2,
        ("chair", "sofa", "bed"),
    ),
    PoseSpec(
        "sit_lean_back",
        "sit",
        _merge(
            SIT_LEGS,
            ARMS_DOWN,
            {
                "left_hip": [("x", -78.0)],
                "right_hip": [("x", -78.0)],
                "spine1": [("x", -6.0)],
                "left_shoulder": [("z", -60.0), ("y", 10.0)],
                "right_shoulder": [("z", 60.0), ("y", -10.0)],
            },
        ),
        (Oscillation("head", "y", 15.0, 0.25),),
        1.0,
        ("sofa", "bed"),
    ),
    PoseSpec(
        "sit_phone",
        "sit",
        _merge(
            SIT_LEGS,
            HANDS_ON_LAP,
            {
                "left_elbow": [("y", -110.0)],
                "right_elbow": [("y", 110.0)],
                "head": [("x", 30.0)],
                "spine2": [("x", 10.0)],
            },
        ),
        (Oscillation("head", "x", 5.0, 0.3),),
        0.8,
        ("chair", "sofa", "bed"),
    ),
)


def library_names() -> tuple[str, ...]:
    return tuple(p.name for p in POSE_LIBRARY)


def get_pose(name: str) -> PoseSpec:
    for p in POSE_LIBRARY:
        if p.name == name:
            return p
    raise ValueError(f"unknown pose {name!r}; known: {list(library_names())}")


def _steps_rotation(steps: list[Step]) -> Rotation:
    rot = Rotation.identity()
    for axis, deg in steps:
        rot = Rotation.from_euler(axis, deg, degrees=True) * rot  # apply in the listed order
    return rot


@dataclass
class PoseInstance:
    """A pose spec with its per-joint noise drawn: ``base_rotmat`` (23, 3, 3) and the motion to add."""

    spec: PoseSpec
    base_rotmat: np.ndarray
    motion: tuple[Oscillation, ...] = field(default_factory=tuple)
    motion_scale: float = 1.0


def instantiate(
    spec: PoseSpec, rng: np.random.Generator, noise_deg: float = 6.0, overrides: dict[str, list[Step]] | None = None
) -> PoseInstance:
    """Draw per-joint noise for a pose.

    Args:
        spec: the pose.
        rng: numpy Generator.
        noise_deg: standard deviation of the noise per axis (clipped at 2 sigma); hinge joints get flexion only,
            kept inside ``HINGES`` limits.
        overrides: joint -> steps replacing the base (e.g. a knee angle fitted to a seat height).

    Returns:
        PoseInstance with ``base_rotmat`` (23, 3, 3) float64.
    """
    base = dict(spec.base)
    if overrides:
        base.update(overrides)
    rotmats = np.zeros((len(_BODY_JOINTS), 3, 3))
    for j, name in enumerate(_BODY_JOINTS):
        steps = list(base.get(name, []))
        if name in HINGES:
            axis, lo, hi = HINGES[name]
            flex = sum(d for a, d in steps if a == axis)
            flex = float(np.clip(flex + abs(rng.normal(0, noise_deg * 0.5)) * np.sign(hi + lo), lo, hi))
            steps = [(a, d) for a, d in steps if a != axis] + [(axis, flex)]
            rot = _steps_rotation(steps)
        else:
            sigma = noise_deg * (0.5 if name in ("left_hand", "right_hand", "left_foot", "right_foot") else 1.0)
            noise = np.clip(rng.normal(0, sigma, 3), -2 * sigma, 2 * sigma)
            rot = Rotation.from_rotvec(np.radians(noise)) * _steps_rotation(steps)
        rotmats[j] = rot.as_matrix()
    return PoseInstance(spec=spec, base_rotmat=rotmats, motion=spec.motion)


def pose_sequence(instance: PoseInstance, times_s: np.ndarray, phases: np.ndarray | None = None) -> np.ndarray:
    """Body pose of every frame.

    Args:
        instance: a drawn pose.
        times_s: (T,) float seconds.
        phases: optional (len(motion),) extra phases (random per recording).

    Returns:
        (T, 23, 3, 3) float64 joint rotations relative to the parents.
    """
    T = len(times_s)
    out = np.repeat(instance.base_rotmat[None], T, axis=0)
    for k, osc in enumerate(instance.motion):
        j = _BODY_JOINTS.index(osc.joint)
        phase = osc.phase + (0.0 if phases is None else float(phases[k]))
        angle = np.radians(osc.amplitude_deg * instance.motion_scale) * np.sin(
            2 * np.pi * osc.freq_hz * times_s + phase
        )
        axis = np.eye(3)["xyz".index(osc.axis)]
        R = Rotation.from_rotvec(angle[:, None] * axis[None]).as_matrix()  # (T, 3, 3)
        out[:, j] = R @ out[:, j]
    return out


def sample_pose_spec(rng: np.random.Generator, allowed: tuple[Placement, ...] | None = None) -> PoseSpec:
    """Draw a pose spec by library weight (optionally only some placement kinds)."""
    specs = [p for p in POSE_LIBRARY if allowed is None or p.placement in allowed]
    w = np.array([p.weight for p in specs])
    return specs[int(rng.choice(len(specs), p=w / w.sum()))]
