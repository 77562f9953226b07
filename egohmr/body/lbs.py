"""SMPL-format linear blend skinning as one pure function.

Notation (Loper et al. 2015, SMPL, eqs. 1-10): ``T_bar`` = ``v_template``, ``S`` = ``shapedirs``, ``P`` = ``posedirs``,
``J`` = ``j_regressor``, ``W`` = ``lbs_weights``; shaped template ``T_S = T_bar + S beta`` (eq. 7 with the pose
blend term below), rest joints ``J(beta) = J T_S`` (eq. 10), pose blend ``B_P = P vec(R_j - I)`` over joints 1..23
(eq. 9), world transforms ``G_k`` accumulated along the kinematic tree (eq. 4), and vertex transforms
``sum_k W_ik G'_k`` with ``G'_k = G_k [I, -J_k; 0, 1]`` (eq. 2). Rotation matrices act on column vectors.

The pose feature is ``(R_j - I)`` for joints 1..23 flattened row-major (207 values), matching the SMPL files' posedirs
layout ``(V, 3, 207)`` reshaped to ``(V*3, 207)`` and transposed to ``(207, V*3)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["linear_blend_skinning"]


def _rigid_chain(rotmats: torch.Tensor, rest_joints: torch.Tensor, parents: Sequence[int]) -> torch.Tensor:
    """World transforms of every joint along the kinematic tree.

    Args:
        rotmats: (B, J, 3, 3) local joint rotations (joint 0 = global orientation).
        rest_joints: (B, J, 3) rest-pose joint positions.
        parents: J parent indices, parents[0] ignored (root); each parent precedes its child.

    Returns:
        (B, J, 3, 4) float: ``[R_world | t_world]`` of each joint.
    """
    B, J = rotmats.shape[:2]
    parent_idx = list(parents)
    parent_idx[0] = 0
    rel = rest_joints - rest_joints[:, parent_idx]  # (B, J, 3) offset from the parent joint
    rel[:, 0] = rest_joints[:, 0]
    local = torch.cat([rotmats, rel[..., None]], dim=-1)  # (B, J, 3, 4)
    world_R = [rotmats[:, 0]]  # each (B, 3, 3)
    world_t = [rel[:, 0]]  # each (B, 3)
    for j in range(1, J):
        p = parent_idx[j]
        world_R.append(world_R[p] @ local[:, j, :, :3])
        world_t.append((world_R[p] @ local[:, j, :, 3:])[..., 0] + world_t[p])
    R = torch.stack(world_R, dim=1)  # (B, J, 3, 3)
    t = torch.stack(world_t, dim=1)  # (B, J, 3)
    return torch.cat([R, t[..., None]], dim=-1)  # (B, J, 3, 4)


def linear_blend_skinning(
    betas: torch.Tensor,
    global_orient_rotmat: torch.Tensor,
    body_pose_rotmat: torch.Tensor,
    v_template: torch.Tensor,
    shapedirs: torch.Tensor,
    posedirs: torch.Tensor,
    j_regressor: torch.Tensor,
    parents: Sequence[int],
    lbs_weights: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose and shape a SMPL-format body (no translation).

    All tensors must share one dtype (float32 or float64) and device. Differentiable in every float input.

    Args:
        betas: (B, L) float, shape coefficients.
        global_orient_rotmat: (B, 3, 3) float, root rotation (body local frame -> output frame).
        body_pose_rotmat: (B, J-1, 3, 3) float, joint rotations relative to the parent (J = 24 for SMPL).
        v_template: (V, 3) float, metres, rest template in the SMPL local frame (y-up, facing +z).
        shapedirs: (V, 3, L) float, metres per unit beta.
        posedirs: (P, V*3) float with P = 9 (J-1) = 207, metres.
        j_regressor: (J, V) float, dense joint regressor.
        parents: J ints, parent of each joint (root entry ignored); parents precede children.
        lbs_weights: (V, J) float, skinning weights (rows sum to 1).

    Returns:
        vertices: (B, V, 3) float, metres, posed vertices (frame of ``global_orient_rotmat``, no translation).
        joints: (B, J, 3) float, metres, posed kinematic joints.
    """
    B = betas.shape[0]
    V = v_template.shape[0]
    dtype, device = betas.dtype, betas.device
    # Shape blend shapes: T_S = T_bar + S beta
    v_shaped = v_template + torch.einsum("bl,vcl->bvc", betas, shapedirs)  # (B, V, 3)
    # Rest joints: J(beta) = J_reg T_S
    rest_joints = torch.einsum("jv,bvc->bjc", j_regressor, v_shaped)  # (B, J, 3)
    rotmats = torch.cat([global_orient_rotmat[:, None], body_pose_rotmat], dim=1)  # (B, J, 3, 3)
    # Pose blend shapes: B_P = P vec(R_j - I), j = 1..J-1
    eye = torch.eye(3, dtype=dtype, device=device)
    pose_feature = (rotmats[:, 1:] - eye).reshape(B, -1)  # (B, 207)
    v_posed = v_shaped + (pose_feature @ posedirs).reshape(B, V, 3)  # (B, V, 3)
    # Kinematic chain: G_k
    world = _rigid_chain(rotmats, rest_joints, parents)  # (B, J, 3, 4)
    joints = world[..., 3]  # (B, J, 3)
    # G'_k = G_k [I, -J_k]: translation becomes t_k - R_k J_k
    R_world = world[..., :3]  # (B, J, 3, 3)
    t_skin = joints - (R_world @ rest_joints[..., None])[..., 0]  # (B, J, 3)
    skin = torch.cat([R_world.reshape(B, -1, 9), t_skin], dim=-1)  # (B, J, 12)
    # Blend per vertex: sum_k W_ik G'_k
    per_vertex = (lbs_weights @ skin).reshape(B, V, 12)  # (B, V, 12): W (V, J) @ (B, J, 12)
    R_v = per_vertex[..., :9].reshape(B, V, 3, 3)  # (B, V, 3, 3)
    t_v = per_vertex[..., 9:]  # (B, V, 3)
    vertices = (R_v * v_posed[:, :, None, :]).sum(-1) + t_v  # (B, V, 3): R_v v_posed + t_v
    return vertices, joints
