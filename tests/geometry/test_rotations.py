"""Rotation conversions: golden parity, explicit 6D layouts, round trips and gradients at corner cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from egohmr.geometry.rotations import (
    axis_angle_to_rotmat,
    gram_schmidt,
    quat_to_axis_angle,
    quat_to_rotmat,
    rot6d_to_rotmat,
    rotmat_to_axis_angle,
    rotmat_to_quat,
    rotmat_to_rot6d,
    skew,
)


def _random_aa(gen: torch.Generator, n: int, max_angle: float = math.pi, dtype=torch.float64) -> torch.Tensor:
    axis = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen, dtype=dtype), dim=-1)
    angle = torch.rand(n, 1, generator=gen, dtype=dtype) * max_angle
    return axis * angle


def _is_rotation(R: torch.Tensor, tol: float) -> bool:
    eye = torch.eye(3, dtype=R.dtype)
    ortho = (R.transpose(-1, -2) @ R - eye).abs().max() < tol
    return bool(ortho and (torch.linalg.det(R) - 1).abs().max() < tol)


@pytest.fixture()
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


# ---------------------------------------------------------------- golden parity (rot6d_and_camera.npz, section 1)


def test_golden_aa_to_rotmat(golden):
    g = golden("rot6d_and_camera")
    aa = torch.from_numpy(g["aa"])
    # The official function adds 1e-8 to each component before the norm; we do not (module docstring), so the
    # float64 references agree to ~1e-8 rather than 1e-12.
    np.testing.assert_allclose(axis_angle_to_rotmat(aa).numpy(), g["aa_to_rotmat_f64"], rtol=0, atol=5e-8)
    np.testing.assert_allclose(axis_angle_to_rotmat(aa.float()).numpy(), g["aa_to_rotmat_f32"], rtol=0, atol=2e-6)
    # Edge rows: zero -> identity, pi about x -> diag(1, -1, -1).
    np.testing.assert_array_equal(axis_angle_to_rotmat(aa[:1]).numpy()[0], np.eye(3))
    np.testing.assert_allclose(axis_angle_to_rotmat(aa[3:4]).numpy()[0], np.diag([1.0, -1.0, -1.0]), atol=1e-15)


def test_golden_quat_and_6d(golden):
    g = golden("rot6d_and_camera")
    q, x6 = torch.from_numpy(g["quat"]), torch.from_numpy(g["x6"])
    np.testing.assert_allclose(quat_to_rotmat(q).numpy(), g["quat_to_rotmat_f64"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(rot6d_to_rotmat(x6, "col").numpy(), g["rot6d_to_rotmat_prohmr_f64"], atol=1e-12)
    np.testing.assert_allclose(rot6d_to_rotmat(x6, "row").numpy(), g["rot6d_to_rotmat_diffusion_f64"], atol=1e-12)
    np.testing.assert_allclose(rot6d_to_rotmat(x6.float(), "col").numpy(), g["rot6d_to_rotmat_prohmr_f32"], atol=2e-6)
    np.testing.assert_allclose(
        rot6d_to_rotmat(x6.float(), "row").numpy(), g["rot6d_to_rotmat_diffusion_f32"], atol=2e-6
    )
    # Encoders: feed the official rotmats so only the layout is tested (exact).
    R = torch.from_numpy(g["aa_to_rotmat_f64"])
    np.testing.assert_array_equal(rotmat_to_rot6d(R, "col").numpy(), g["rotmat_to_rot6d_prohmr_f64"])
    np.testing.assert_array_equal(rotmat_to_rot6d(R, "row").numpy(), g["rotmat_to_rot6d_diffusion_f64"])


def test_golden_rotmat_to_axis_angle(golden):
    g = golden("rot6d_and_camera")
    R = torch.from_numpy(g["aa_to_rotmat_f64"])
    aa = rotmat_to_axis_angle(R)
    angle = torch.from_numpy(g["aa"]).norm(dim=-1)
    away_from_pi = (angle < math.pi - 1e-3).numpy()  # at pi the axis sign is arbitrary
    np.testing.assert_allclose(aa.numpy()[away_from_pi], g["rotmat_to_aa_konia_f64"][away_from_pi], atol=1e-7)
    np.testing.assert_allclose(axis_angle_to_rotmat(aa).numpy(), R.numpy(), atol=1e-12)


# ---------------------------------------------------------------- 6D layouts pinned against explicit indexing


def test_rot6d_col_order_explicit(gen):
    R = axis_angle_to_rotmat(_random_aa(gen, 8))
    expected = torch.stack([R[:, 0, 0], R[:, 1, 0], R[:, 2, 0], R[:, 0, 1], R[:, 1, 1], R[:, 2, 1]], dim=-1)
    torch.testing.assert_close(rotmat_to_rot6d(R, "col"), expected, rtol=0, atol=0)


def test_rot6d_row_order_explicit(gen):
    R = axis_angle_to_rotmat(_random_aa(gen, 8))
    expected = torch.stack([R[:, 0, 0], R[:, 0, 1], R[:, 1, 0], R[:, 1, 1], R[:, 2, 0], R[:, 2, 1]], dim=-1)
    torch.testing.assert_close(rotmat_to_rot6d(R, "row"), expected, rtol=0, atol=0)


def test_rot6d_decoders_read_their_layout():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], dtype=torch.float64)
    # "col": a1 = (1, 2, 3); "row": a1 = (1, 3, 5).
    b1_col = rot6d_to_rotmat(x, "col")[:, 0]
    b1_row = rot6d_to_rotmat(x, "row")[:, 0]
    torch.testing.assert_close(b1_col, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64) / math.sqrt(14))
    torch.testing.assert_close(b1_row, torch.tensor([1.0, 3.0, 5.0], dtype=torch.float64) / math.sqrt(35))


@pytest.mark.parametrize("order", ["col", "row"])
def test_rot6d_round_trip_float64(gen, order):
    R = axis_angle_to_rotmat(_random_aa(gen, 32)).reshape(4, 8, 3, 3)
    torch.testing.assert_close(rot6d_to_rotmat(rotmat_to_rot6d(R, order), order), R, rtol=0, atol=1e-14)


def test_rot6d_invalid_order_and_shapes():
    with pytest.raises(ValueError, match="order"):
        rot6d_to_rotmat(torch.zeros(6), "prohmr")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="order"):
        rotmat_to_rot6d(torch.eye(3), "diffusion")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="x6"):
        rot6d_to_rotmat(torch.zeros(2, 5), "col")
    with pytest.raises(ValueError, match="aa"):
        axis_angle_to_rotmat(torch.zeros(2, 4))


# ---------------------------------------------------------------- round trips and properties


def test_axis_angle_round_trip_float64(gen):
    aa = _random_aa(gen, 256, max_angle=math.pi - 1e-3)
    aa = torch.cat([aa, torch.tensor([[0.0, 0.0, 0.0], [1e-9, 0.0, -2e-9], [1e-4, 2e-4, 0.0]], dtype=torch.float64)])
    R = axis_angle_to_rotmat(aa)
    assert _is_rotation(R, 1e-14)
    torch.testing.assert_close(rotmat_to_axis_angle(R), aa, rtol=0, atol=1e-12)


def test_axis_angle_at_pi_round_trip_up_to_sign(gen):
    axis = torch.nn.functional.normalize(torch.randn(16, 3, generator=gen, dtype=torch.float64), dim=-1)
    R = axis_angle_to_rotmat(axis * math.pi)
    aa = rotmat_to_axis_angle(R)
    torch.testing.assert_close(aa.norm(dim=-1), torch.full((16,), math.pi, dtype=torch.float64))
    torch.testing.assert_close(axis_angle_to_rotmat(aa), R, rtol=0, atol=1e-12)


def test_rodrigues_matches_closed_form_about_z():
    angles = torch.tensor([0.3, -1.2, 2.9], dtype=torch.float64)
    aa = torch.stack([torch.zeros(3), torch.zeros(3), angles.float()], dim=-1).double()
    c, s = torch.cos(angles), torch.sin(angles)
    expected = torch.zeros(3, 3, 3, dtype=torch.float64)
    expected[:, 0, 0], expected[:, 0, 1], expected[:, 1, 0], expected[:, 1, 1] = c, -s, s, c
    expected[:, 2, 2] = 1.0
    torch.testing.assert_close(axis_angle_to_rotmat(aa), expected, rtol=0, atol=1e-7)
    # Column-vector convention: rotating x by +90 deg about z gives y.
    R = axis_angle_to_rotmat(torch.tensor([0.0, 0.0, math.pi / 2], dtype=torch.float64))
    torch.testing.assert_close(
        R @ torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 1, 0]).double()
    )


def test_quat_round_trip(gen):
    q = torch.randn(64, 4, generator=gen, dtype=torch.float64) * 3
    R = quat_to_rotmat(q)
    assert _is_rotation(R, 1e-14)
    q_back = rotmat_to_quat(R)
    q_unit = torch.nn.functional.normalize(q, dim=-1)
    q_unit = torch.where(q_unit[:, :1] < 0, -q_unit, q_unit)
    torch.testing.assert_close(q_back, q_unit, rtol=0, atol=1e-12)
    torch.testing.assert_close(axis_angle_to_rotmat(quat_to_axis_angle(q)), R, rtol=0, atol=1e-12)


def test_gram_schmidt_properties(gen):
    a1 = torch.randn(10, 3, generator=gen, dtype=torch.float64)
    a2 = torch.randn(10, 3, generator=gen, dtype=torch.float64)
    R = gram_schmidt(a1, a2)
    assert _is_rotation(R, 1e-13)
    torch.testing.assert_close(R[..., 0], torch.nn.functional.normalize(a1, dim=-1))
    # b2 lies in the plane of a1 and a2.
    normal = torch.linalg.cross(a1, a2, dim=-1)
    torch.testing.assert_close((R[..., 1] * normal).sum(-1), torch.zeros(10, dtype=torch.float64), atol=1e-12, rtol=0)


def test_skew_is_cross_product(gen):
    v, u = torch.randn(2, 5, 3, generator=gen, dtype=torch.float64)
    torch.testing.assert_close((skew(v) @ u[..., None])[..., 0], torch.linalg.cross(v, u, dim=-1))


def test_shapes_dtype_and_leading_dims(gen):
    aa = _random_aa(gen, 6, dtype=torch.float32).reshape(2, 3, 3)
    R = axis_angle_to_rotmat(aa)
    assert R.shape == (2, 3, 3, 3) and R.dtype == torch.float32
    assert rotmat_to_axis_angle(R).shape == (2, 3, 3)
    assert rotmat_to_rot6d(R, "col").shape == (2, 3, 6)
    assert rot6d_to_rotmat(torch.randn(2, 3, 6, generator=gen), "row").shape == (2, 3, 3, 3)
    assert quat_to_rotmat(torch.randn(7, 4, generator=gen)).shape == (7, 3, 3)
    assert axis_angle_to_rotmat(torch.zeros(3)).shape == (3, 3)


# ---------------------------------------------------------------- gradients at the corner cases


@pytest.mark.parametrize("angle", [0.0, 1e-7, 1e-3, math.pi / 2, math.pi])
def test_axis_angle_to_rotmat_finite_grad(angle):
    aa = torch.tensor([[angle, 0.0, 0.0], [angle / math.sqrt(3)] * 3], dtype=torch.float64, requires_grad=True)
    R = axis_angle_to_rotmat(aa)
    (grad,) = torch.autograd.grad((R * torch.arange(9.0, dtype=torch.float64).reshape(3, 3)).sum(), aa)
    assert torch.isfinite(grad).all()


def test_axis_angle_to_rotmat_gradient_at_zero_is_the_skew_derivative():
    # dR/d(aa_k) at 0 = [e_k]_x, so d sum(R * M)/d aa = (M21 - M12, M02 - M20, M10 - M01).
    M = torch.arange(9.0, dtype=torch.float64).reshape(3, 3)
    aa = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad((axis_angle_to_rotmat(aa) * M).sum(), aa)
    expected = torch.tensor([M[2, 1] - M[1, 2], M[0, 2] - M[2, 0], M[1, 0] - M[0, 1]], dtype=torch.float64)
    torch.testing.assert_close(grad, expected)


def test_gradcheck_rotations():
    aa = torch.tensor([[0.3, -0.2, 0.5], [1e-5, 2e-5, -1e-5], [2.0, 1.0, -0.5]], dtype=torch.float64)
    assert torch.autograd.gradcheck(axis_angle_to_rotmat, (aa.requires_grad_(),))
    x6 = torch.randn(4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3)).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: rot6d_to_rotmat(x, "row"), (x6,))
    R = axis_angle_to_rotmat(aa.detach()[[0, 2]]).requires_grad_()
    assert torch.autograd.gradcheck(rotmat_to_axis_angle, (R,))


@pytest.mark.parametrize("angle", [0.0, 1e-6, math.pi])
def test_rotmat_to_axis_angle_finite_grad(angle):
    R = axis_angle_to_rotmat(torch.tensor([0.0, angle, 0.0], dtype=torch.float64)).requires_grad_()
    (grad,) = torch.autograd.grad(rotmat_to_axis_angle(R).sum(), R)
    assert torch.isfinite(grad).all()
