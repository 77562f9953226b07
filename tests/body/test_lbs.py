"""Linear blend skinning and BodyModel on a tiny random body (no files needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from egohmr.body import BodyModel, BodyOutput, linear_blend_skinning
from egohmr.constants import LANDMARK_NAMES, SMPL_PARENTS, SMPL_TO_OPENPOSE
from egohmr.geometry import axis_angle_to_rotmat
from tests.body import random_body_arrays, random_body_model


@pytest.fixture()
def body() -> BodyModel:
    return random_body_model(np.random.default_rng(0)).double()


def _random_pose(gen: torch.Generator, B: int, scale: float = 0.5, dtype=torch.float64):
    betas = torch.randn(B, 10, generator=gen, dtype=dtype)
    go = axis_angle_to_rotmat(torch.randn(B, 3, generator=gen, dtype=dtype) * scale)
    bp = axis_angle_to_rotmat(torch.randn(B, 23, 3, generator=gen, dtype=dtype) * scale)
    return betas, go, bp


def _identity(B: int, n: int, dtype=torch.float64) -> torch.Tensor:
    return torch.eye(3, dtype=dtype).expand(B, n, 3, 3).clone()


def _descendants(joint: int) -> set[int]:
    out = {joint}
    for j, p in enumerate(SMPL_PARENTS):
        if p in out:
            out.add(j)
    return out


def test_rest_pose_is_template(body):
    B = 2
    out = body(torch.zeros(B, 10, dtype=torch.float64), _identity(B, 1)[:, 0], _identity(B, 23))
    v_expected = body.v_template * body.lbs_weights.sum(-1, keepdim=True)  # weights sum to 1 up to float32
    torch.testing.assert_close(out.vertices, v_expected.expand(B, -1, -1))
    torch.testing.assert_close(out.joints, (body.j_regressor @ body.v_template).expand(B, -1, -1))
    torch.testing.assert_close(out.landmarks, out.vertices[:, body.landmark_vertex_ids])


def test_betas_are_linear_in_rest_pose(body):
    betas = torch.zeros(1, 10, dtype=torch.float64)
    betas[0, 3] = 2.0
    out = body(betas, _identity(1, 1), _identity(1, 23))
    expected = (body.v_template + 2.0 * body.shapedirs[..., 3]) * body.lbs_weights.sum(-1, keepdim=True)
    torch.testing.assert_close(out.vertices[0], expected)


def test_global_orientation_rotates_about_root_and_transl_adds(body):
    gen = torch.Generator().manual_seed(1)
    betas, _, bp = _random_pose(gen, 3)
    R = axis_angle_to_rotmat(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    transl = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    ref = body(betas, _identity(3, 1)[:, 0], bp)
    out = body(betas, R, bp, transl)
    root = ref.joints[:, :1]  # (B, 1, 3): the root joint stays fixed under global orientation
    expected = (ref.vertices - root) @ R.transpose(-1, -2) + root + transl[:, None]
    torch.testing.assert_close(out.vertices, expected)
    torch.testing.assert_close(out.joints[:, 0], ref.joints[:, 0] + transl)


def test_elbow_bend_moves_only_forearm_and_keeps_bone_length():
    a = random_body_arrays(np.random.default_rng(2))
    a["posedirs"][:] = 0.0  # isolate skinning from pose correctives
    body = BodyModel(a["v_template"], a["shapedirs"], a["posedirs"], a["J_regressor"], a["weights"],
                     a["kintree_table"][0].astype(np.int64), a["f"], a["landmark_vertex_ids"]).double()  # fmt: skip
    left_elbow = 18
    bp = _identity(1, 23)
    bp[0, left_elbow - 1] = axis_angle_to_rotmat(torch.tensor([0.0, 0.0, 1.2], dtype=torch.float64))
    rest = body(torch.zeros(1, 10, dtype=torch.float64), _identity(1, 1)[:, 0], _identity(1, 23))
    bent = body(torch.zeros(1, 10, dtype=torch.float64), _identity(1, 1)[:, 0], bp)
    moved = (bent.vertices - rest.vertices).norm(dim=-1)[0] > 1e-9
    subtree = sorted(_descendants(left_elbow))
    influenced = body.lbs_weights[:, subtree].sum(-1) > 0
    assert moved.any()
    assert torch.equal(moved, influenced)
    # Joints outside the subtree do not move; bone lengths are kept.
    others = [j for j in range(24) if j not in subtree or j == left_elbow]
    torch.testing.assert_close(bent.joints[0, others], rest.joints[0, others])
    for j in subtree[1:]:
        p = SMPL_PARENTS[j]
        torch.testing.assert_close((bent.joints[0, j] - bent.joints[0, p]).norm(),
                                   (rest.joints[0, j] - rest.joints[0, p]).norm())  # fmt: skip


def test_batch_equals_single(body):
    gen = torch.Generator().manual_seed(3)
    betas, go, bp = _random_pose(gen, 4)
    out = body(betas, go, bp)
    for i in range(4):
        single = body(betas[i : i + 1], go[i : i + 1], bp[i : i + 1])
        torch.testing.assert_close(single.vertices[0], out.vertices[i], rtol=0, atol=1e-12)


def test_float32_matches_float64(body):
    gen = torch.Generator().manual_seed(4)
    betas, go, bp = _random_pose(gen, 2)
    out64 = body(betas, go, bp)
    body32 = body.float()
    out32 = body32(betas.float(), go.float(), bp.float())
    assert out32.vertices.dtype == torch.float32
    torch.testing.assert_close(out32.vertices.double(), out64.vertices, rtol=0, atol=1e-5)
    # A float32 module serves float64 inputs by casting its buffers.
    torch.testing.assert_close(body32(betas, go, bp).vertices, out64.vertices, rtol=0, atol=1e-6)


def test_axis_angle_path_equals_rotmat_path(body):
    gen = torch.Generator().manual_seed(5)
    aa = torch.randn(2, 24, 3, generator=gen, dtype=torch.float64) * 0.4
    R = axis_angle_to_rotmat(aa)
    betas = torch.zeros(2, 10, dtype=torch.float64)
    via_aa = body(betas, axis_angle_to_rotmat(aa[:, 0]), axis_angle_to_rotmat(aa[:, 1:]))
    via_R = body(betas, R[:, :1], R[:, 1:])
    torch.testing.assert_close(via_aa.vertices, via_R.vertices, rtol=0, atol=0)


def test_gradient_flows_to_pose_and_shape(body):
    gen = torch.Generator().manual_seed(6)
    aa = (torch.randn(2, 24, 3, generator=gen, dtype=torch.float64) * 0.3).requires_grad_()
    betas = torch.randn(2, 10, generator=gen, dtype=torch.float64).requires_grad_()
    R = axis_angle_to_rotmat(aa)
    out = body(betas, R[:, 0], R[:, 1:])
    (out.vertices.square().sum() + out.joints.sum() + out.openpose25().sum()).backward()
    assert torch.isfinite(aa.grad).all() and (aa.grad[:, 0].abs() > 0).all()
    assert (aa.grad[:, 1:].abs().sum(-1) > 0).all()  # every joint (hands included: they carry skinned vertices)
    assert betas.grad.abs().sum() > 0
    fn = lambda a: body(torch.zeros(1, 10, dtype=torch.float64), axis_angle_to_rotmat(a[:, 0]),  # noqa: E731
                        axis_angle_to_rotmat(a[:, 1:])).vertices[:, ::20]  # fmt: skip
    assert torch.autograd.gradcheck(fn, (aa.detach()[:1].requires_grad_(),))


def test_pure_function_matches_module(body):
    gen = torch.Generator().manual_seed(7)
    betas, go, bp = _random_pose(gen, 2)
    v, j = linear_blend_skinning(betas, go, bp, body.v_template, body.shapedirs, body.posedirs, body.j_regressor,
                                 SMPL_PARENTS, body.lbs_weights)  # fmt: skip
    out = body(betas, go, bp)
    torch.testing.assert_close(v, out.vertices, rtol=0, atol=0)
    torch.testing.assert_close(j, out.joints, rtol=0, atol=0)


def test_openpose25_mapping(body):
    gen = torch.Generator().manual_seed(8)
    out = body(*_random_pose(gen, 2))
    op = out.openpose25()
    assert op.shape == (2, 25, 3)
    torch.testing.assert_close(op[:, 8], out.joints[:, 0])  # MidHip = pelvis
    torch.testing.assert_close(op[:, 0], out.landmarks[:, LANDMARK_NAMES.index("nose")])
    torch.testing.assert_close(op[:, 24], out.landmarks[:, LANDMARK_NAMES.index("right_heel")])
    both = torch.cat([out.joints, out.landmarks], dim=1)
    for k, src in enumerate(SMPL_TO_OPENPOSE):
        torch.testing.assert_close(op[:, k], both[:, src])
    op_manual = BodyOutput(out.vertices, out.joints, out.landmarks).openpose25()
    torch.testing.assert_close(op_manual, op)


def test_module_properties_and_repr(body):
    assert body.gender == "neutral" and body.num_vertices == 240 and body.num_betas == 10
    assert body.faces.shape == (480, 3) and body.faces.dtype == torch.long
    assert "num_vertices=240" in repr(body)
    assert list(dict(body.named_parameters())) == []
    names = set(dict(body.named_buffers()))
    assert {"v_template", "shapedirs", "posedirs", "j_regressor", "lbs_weights", "parents"} <= names
    assert body.posedirs.shape == (207, 240 * 3)


@pytest.mark.parametrize(
    ("arg", "bad"),
    [
        ("betas", dict(betas=torch.zeros(2, 9))),
        ("global_orient_rotmat", dict(global_orient_rotmat=torch.zeros(2, 3))),
        ("body_pose_rotmat", dict(body_pose_rotmat=torch.zeros(2, 69))),
        ("body_pose_rotmat", dict(body_pose_rotmat=torch.zeros(3, 23, 3, 3))),
        ("transl", dict(transl=torch.zeros(2, 1, 3))),
        ("global_orient_rotmat", dict(global_orient_rotmat=torch.zeros(2, 3, 3, dtype=torch.float64))),
    ],
)
def test_shape_errors_name_the_argument(arg, bad):
    body = random_body_model(np.random.default_rng(0))
    kwargs = dict(
        betas=torch.zeros(2, 10),
        global_orient_rotmat=_identity(2, 1, torch.float32),
        body_pose_rotmat=_identity(2, 23, torch.float32),
        transl=None,
    )
    kwargs.update(bad)
    with pytest.raises(ValueError, match=arg):
        body(**kwargs)


def test_constructor_validates_shapes():
    a = random_body_arrays(np.random.default_rng(0))
    args = [a["v_template"], a["shapedirs"], a["posedirs"], a["J_regressor"], a["weights"],
            a["kintree_table"][0].astype(np.int64), a["f"], a["landmark_vertex_ids"]]  # fmt: skip
    bad = list(args)
    bad[2] = a["posedirs"][:, :, :200]
    with pytest.raises(ValueError, match="posedirs"):
        BodyModel(*bad)
    bad = list(args)
    bad[7] = np.arange(10)
    with pytest.raises(ValueError, match="landmark_vertex_ids"):
        BodyModel(*bad)
    with pytest.raises(ValueError, match="gender"):
        BodyModel(*args, gender="other")


def test_body_model_moves_between_dtypes():
    body = random_body_model(np.random.default_rng(0))
    assert body.double().v_template.dtype == torch.float64
    R = axis_angle_to_rotmat(torch.tensor([0.0, math.pi, 0.0]))
    out = body.float()(torch.zeros(1, 10), R[None], _identity(1, 23, torch.float32))
    assert out.vertices.shape == (1, 240, 3) and out.landmarks.shape == (1, 11, 3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(body):
    gen = torch.Generator().manual_seed(9)
    betas, go, bp = _random_pose(gen, 3)
    cpu = body(betas, go, bp)
    gpu = body.cuda()(betas.cuda(), go.cuda(), bp.cuda())
    torch.testing.assert_close(gpu.vertices.cpu(), cpu.vertices, rtol=0, atol=1e-10)
