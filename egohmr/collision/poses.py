"""Folded body poses for judging the collision score where the body intersects itself.

Deep squats, crouching, crossed arms, knees to chest, hands on the belly and a raised leg fold thighs into the belly
and forearms into the trunk: there a point inside both parts has its closest surface on the swallowed part. These
fixed SMPL-format poses (axis-angle per joint, radians) are used by `benchmarks/bm_collision.py` and the tests.
"""

from __future__ import annotations

import torch

from egohmr.geometry import axis_angle_to_rotmat

# SMPL joint ids (pelvis 0 is the global orientation and stays zero).
_L_HIP, _R_HIP, _SPINE1, _L_KNEE, _R_KNEE, _SPINE2, _L_ANKLE, _R_ANKLE, _SPINE3 = 1, 2, 3, 4, 5, 6, 7, 8, 9
_L_SHOULDER, _R_SHOULDER, _L_ELBOW, _R_ELBOW = 16, 17, 18, 19

# name -> {joint id: (x, y, z) axis-angle in the parent frame, radians}
FOLDED_POSES: dict[str, dict[int, tuple[float, float, float]]] = {
    "deep squat": {
        _L_HIP: (-2.3, 0.0, 0.3), _R_HIP: (-2.3, 0.0, -0.3), _L_KNEE: (2.5, 0, 0), _R_KNEE: (2.5, 0, 0),
        _L_ANKLE: (0.5, 0, 0), _R_ANKLE: (0.5, 0, 0), _SPINE1: (0.3, 0, 0),
    },
    "crouch": {
        _L_HIP: (-1.9, 0, 0), _R_HIP: (-1.9, 0, 0), _L_KNEE: (2.3, 0, 0), _R_KNEE: (2.3, 0, 0),
        _SPINE1: (0.4, 0, 0), _SPINE2: (0.4, 0, 0), _SPINE3: (0.3, 0, 0),
        _L_SHOULDER: (0, 0, -1.2), _R_SHOULDER: (0, 0, 1.2),
    },
    "arms crossed": {
        _L_SHOULDER: (0.0, -0.9, -1.1), _R_SHOULDER: (0.0, 0.9, 1.1),
        _L_ELBOW: (0.0, -2.2, 0.0), _R_ELBOW: (0.0, 2.2, 0.0),
    },
    "knees to chest": {
        _L_HIP: (-2.6, 0, 0), _R_HIP: (-2.6, 0, 0), _L_KNEE: (2.6, 0, 0), _R_KNEE: (2.6, 0, 0),
        _SPINE1: (0.5, 0, 0), _SPINE2: (0.4, 0, 0),
        _L_SHOULDER: (0, -0.6, -0.8), _R_SHOULDER: (0, 0.6, 0.8),
    },
    "hands on belly": {
        _L_SHOULDER: (0.0, -0.5, -1.3), _R_SHOULDER: (0.0, 0.5, 1.3),
        _L_ELBOW: (0.0, -2.0, 0.0), _R_ELBOW: (0.0, 2.0, 0.0),
    },
    "one leg raised": {
        _L_HIP: (-2.0, 0.0, 0.2), _L_KNEE: (2.4, 0, 0), _SPINE1: (0.3, 0, 0),
    },
}  # fmt: skip


def folded_pose_rotmats(dtype: torch.dtype = torch.float32) -> tuple[list[str], torch.Tensor]:
    """Names and joint rotations of `FOLDED_POSES`.

    Returns:
        names: N pose names. rotmats: (N, 24, 3, 3) rotations, [:, 0] the (identity) global orientation.
    """
    names = list(FOLDED_POSES)
    axis_angle = torch.zeros(len(names), 24, 3, dtype=dtype)
    for row, name in enumerate(names):
        for joint, rotation in FOLDED_POSES[name].items():
            axis_angle[row, joint] = torch.tensor(rotation, dtype=dtype)
    return names, axis_angle_to_rotmat(axis_angle)


def folded_bodies(body) -> tuple[list[str], torch.Tensor]:
    """Pose names and posed vertices (N, V, 3) of `body` (a `BodyModel`, mean shape), metres, pelvis at the origin."""
    names, rot = folded_pose_rotmats(body.v_template.dtype)
    out = body(torch.zeros(len(names), body.num_betas, dtype=rot.dtype), rot[:, 0], rot[:, 1:])
    return names, (out.vertices - out.joints[:, :1]).detach()
