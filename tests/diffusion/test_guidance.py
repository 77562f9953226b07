"""Collision guidance: official step rule (golden), DDIM spans, joint mask, zero cases, direction on a toy seat."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egohmr.collision import SurfacePenetration
from egohmr.constants import LOWER_BODY_JOINTS
from egohmr.diffusion.guidance import CollisionGuidance, GuidanceConfig
from egohmr.diffusion.guidance_step import weight_guidance_gradient
from egohmr.diffusion.schedule import NoiseScheduleConfig, space_timesteps
from egohmr.geometry.rotations import rot6d_to_rotmat
from tests.stage2.helpers import ball_body

IDENTITY_6D = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float64)


def _guidance(weight: float = 2.0, dtype=torch.float64) -> CollisionGuidance:
    body = ball_body().to(dtype)
    scorer = SurfacePenetration(body.faces, body.num_vertices)
    return CollisionGuidance(
        GuidanceConfig(weight=weight), NoiseScheduleConfig(), body, scorer, torch.zeros(144), torch.ones(144)
    )


def _sitting_pose(rows: int) -> torch.Tensor:
    """(rows, 144) identity 6D except both hips flexed 90 degrees: sitting with the legs stretched forward (+z)."""
    from egohmr.geometry.rotations import axis_angle_to_rotmat, rotmat_to_rot6d

    aa = torch.zeros(24, 3, dtype=torch.float64)
    aa[[1, 2], 0] = -torch.pi / 2
    return rotmat_to_rot6d(axis_angle_to_rotmat(aa), order="row").reshape(1, 144).repeat(rows, 1)


def _seat_points(guidance: CollisionGuidance) -> torch.Tensor:
    """Points of a seat (floor) box whose top is 2 cm below the knees of the sitting pose. (1, P, 3).

    The 8 cm knee and ankle balls sink 6 cm into it: every penetrating point lies below the ball centres.
    """
    x = _sitting_pose(1)
    rot = rot6d_to_rotmat(x.reshape(1, 24, 6), order="row")
    knee_y = guidance.body_model(torch.zeros(1, 10, dtype=torch.float64), rot[:, 0], rot[:, 1:]).joints[0, 4, 1]
    g = torch.Generator().manual_seed(0)
    lo = torch.tensor([-0.3, float(knee_y) - 0.3, 0.0], dtype=torch.float64)
    hi = torch.tensor([0.3, float(knee_y) - 0.02, 0.8], dtype=torch.float64)
    return lo + (hi - lo) * torch.rand(1, 20000, 3, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("t", [10, 7, 4, 0])
def test_ddpm_step_matches_official_guided_mean(golden, t):
    fx = golden("diffusion")
    guidance = _guidance(weight=2.0, dtype=torch.float32)
    g_raw = torch.from_numpy(fx[f"guid_t{t}_g_raw"])
    g = weight_guidance_gradient(g_raw)
    np.testing.assert_allclose(g.numpy(), fx[f"guid_t{t}_g_weighted"], rtol=0, atol=1e-7)
    mean_before = torch.from_numpy(fx[f"guid_t{t}_mean_before"])
    mean_after = mean_before + 2.0 * guidance.step_scale(t, t - 1) * g
    np.testing.assert_allclose(mean_after.numpy(), fx[f"guid_t{t}_mean_after"], rtol=1e-6, atol=1e-7)
    if t >= 1:  # the update is a real change (row 1 has a zero gradient and must stay put)
        assert (mean_after - mean_before)[[0, 2]].abs().max() > 1e-6
    torch.testing.assert_close(mean_after[1], mean_before[1], rtol=0, atol=0)


def test_ddim_steps_apply_the_ddpm_budget_of_the_steps_they_span():
    guidance = _guidance()
    ddpm_total = sum(guidance.step_scale(t, t - 1) for t in range(50))
    assert guidance.step_scale(11, 10) == 0.0 and not guidance.is_active(11, 10)
    assert guidance.is_active(10, 9) and guidance.is_active(0, -1)
    for spacing in ("ddim5", "ddim10", "10", "7"):
        kept = space_timesteps(50, spacing)[::-1]  # sampling order
        pairs = list(zip(kept, [*kept[1:], -1], strict=True))
        assert sum(guidance.step_scale(t, tp) for t, tp in pairs) == pytest.approx(ddpm_total, rel=1e-12)
    assert guidance.step_scale(10, 0) == pytest.approx(sum(guidance.step_scale(t, t - 1) for t in range(1, 11)))


def test_gradient_moves_only_lower_body_joints_and_only_at_active_steps():
    guidance = _guidance(weight=30.0)
    x = _sitting_pose(1)
    bound = guidance.bind(torch.zeros(1, 10, dtype=torch.float64), _seat_points(guidance))
    assert bound(x, 20, 19) is None and bound(x, 11, 10) is None
    shift = bound(x, 10, 9).reshape(24, 6)
    moved = {j for j in range(24) if shift[j].abs().max() > 0}
    assert moved and moved <= set(LOWER_BODY_JOINTS)
    assert 1 in moved  # the left hip carries the knee out of the seat
    assert bound.calls == 1


def test_no_points_or_far_points_give_zero_gradient_without_nan():
    guidance = _guidance()
    x = IDENTITY_6D.repeat(24).repeat(2, 1)
    betas = torch.zeros(2, 10, dtype=torch.float64)
    empty = guidance.gradient(x, betas, torch.zeros(2, 0, 3, dtype=torch.float64))
    far = guidance.gradient(x, betas, torch.full((2, 50, 3), 30.0, dtype=torch.float64))
    for g in (empty, far):
        assert g.shape == (2, 144) and torch.isfinite(g).all() and not g.any()


def test_gradient_pushes_a_penetrated_leg_out_of_the_seat():
    guidance = _guidance(weight=30.0)
    betas = torch.zeros(2, 10, dtype=torch.float64)
    seat = _seat_points(guidance)[0]
    # row 0: sitting with the thighs sunk into the seat; row 1: the same pose, the seat far away (must not move)
    points = torch.stack([seat, seat + torch.tensor([0.0, 0.0, 5.0], dtype=torch.float64)])
    x = _sitting_pose(2)
    before = guidance.penetration(x, betas, points)
    assert before[0] > 0 and before[1] == 0
    g = guidance.gradient(x, betas, points)
    assert not g[1].any()
    x_new = x + 0.1 * g / g.norm()
    after = guidance.penetration(x_new, betas, points)
    assert after[0] < 0.5 * before[0]
    rot = rot6d_to_rotmat(x_new.reshape(2, 24, 6), order="row")
    rot0 = rot6d_to_rotmat(x.reshape(2, 24, 6), order="row")
    knee0 = guidance.body_model(betas, rot0[:, 0], rot0[:, 1:]).joints[0, 4]
    knee = guidance.body_model(betas, rot[:, 0], rot[:, 1:]).joints[0, 4]
    assert knee[1] > knee0[1] + 0.01  # the knee is lifted out of the seat
