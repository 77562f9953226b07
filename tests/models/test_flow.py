"""Conditional Glow (stage-1 flow): golden parity with stage1_flow.npz, invertibility, log-det, sampling, ActNorm."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egohmr.geometry.cameras import crop_cam_to_full_transl
from egohmr.geometry.rotations import rot6d_to_rotmat
from egohmr.models.flow import ActNorm, AdditiveCoupling, ConditionalGlow, LULinear, SMPLFlow
from tests.golden_recipe import recipe_state_dict


@pytest.fixture(scope="module")
def fx(golden):
    return golden("stage1_flow")


@pytest.fixture(scope="module")
def official(fx):
    """{'f64': SMPLFlow, 'f32': SMPLFlow} holding the recipe weights, eval mode."""
    state = recipe_state_dict(fx)
    model = SMPLFlow()
    missing, unexpected = model.load_state_dict(state, strict=False)
    # The recipe leaves the untouched integer coupling indices out: our constructor values stand (checked below).
    assert unexpected == []
    assert sorted(missing) == sorted(
        f"flow._transform._transforms.{i}.{n}"
        for i in (2, 5, 8, 11)
        for n in ("identity_features", "transform_features")
    )
    model.eval()
    f64 = SMPLFlow().eval()
    f64.load_state_dict(model.state_dict(), strict=True)
    return {"f32": model, "f64": f64.double()}


def _ctx(fx, dtype):
    return torch.from_numpy(fx["context"]).to(dtype), torch.from_numpy(fx["pose6d_prohmr"]).to(dtype)


def _official_float32_total(dets: list[torch.Tensor], is_actnorm: list[bool]) -> torch.Tensor:
    """Re-apply the official float32 roundings: ActNorm log|det| to float32, running total kept in float32."""
    total = torch.zeros_like(dets[0], dtype=torch.float32)
    for det, act in zip(dets, is_actnorm, strict=True):
        det = det.float().double() if act else det
        total = (total.double() + det).float()
    return total.double()


def test_state_dict_keys_and_shapes_match_manifest(fx):
    state = SMPLFlow().state_dict()
    assert list(state) == [str(k) for k in fx["sd_keys"]]
    for key, shape, dtype in zip(fx["sd_keys"], fx["sd_shapes"], fx["sd_dtypes"], strict=True):
        tensor = state[str(key)]
        assert ("x".join(str(n) for n in tensor.shape) or "()") == str(shape), key
        assert str(tensor.dtype).removeprefix("torch.") == str(dtype), key


def test_coupling_masks_follow_official_pattern():
    glow = ConditionalGlow(features=8, hidden_features=4, context_features=2)
    couplings = [t for t in glow.transforms if isinstance(t, AdditiveCoupling)]
    assert len(couplings) == 4
    even, odd = torch.arange(0, 8, 2), torch.arange(1, 8, 2)
    for i, c in enumerate(couplings):  # transforms 2, 8: even dims pass through; 5, 11: odd dims pass through
        ident, trans = (even, odd) if i % 2 == 0 else (odd, even)
        assert torch.equal(c.identity_features, ident) and torch.equal(c.transform_features, trans)
        assert c.identity_features.dtype == torch.int64


def test_logprob_layers_parity_float64(fx, official):
    model = official["f64"]
    ctx, x = _ctx(fx, torch.float64)
    with torch.no_grad():
        tr = model.flow.trace(x, ctx)
    np.testing.assert_allclose(tr.layer_outputs.numpy(), fx["logprob_layer_outputs_f64"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tr.z.numpy(), fx["logprob_z_f64"][:, 0], rtol=1e-10, atol=1e-12)
    ref_det = fx["logprob_layer_logabsdet_f64"]
    is_act = [isinstance(t, ActNorm) for t in model.flow.transforms]
    for i, act in enumerate(is_act):
        ours = tr.layer_logabsdet[i].numpy()
        if act:  # official ActNorm log|det| is float32 even in the float64 run
            np.testing.assert_allclose(ours, ref_det[i], rtol=1e-7, atol=0)
            np.testing.assert_array_equal(ours.astype(np.float32).astype(np.float64), ref_det[i])
        else:
            np.testing.assert_allclose(ours, ref_det[i], rtol=1e-10, atol=1e-12)


def test_logprob_parity_float64(fx, official):
    model = official["f64"]
    ctx, x = _ctx(fx, torch.float64)
    with torch.no_grad():
        lp = model.log_prob(x, ctx)
        tr = model.flow.trace(x, ctx)
    ref = fx["logprob_f64"][:, 0]
    assert lp.shape == (3,) and lp.dtype == torch.float64
    # Our float64 total differs from the official one only by its float32 accumulation (values about 350).
    np.testing.assert_allclose(lp.numpy(), ref, rtol=0, atol=2e-6)
    is_act = [isinstance(t, ActNorm) for t in model.flow.transforms]
    total = _official_float32_total(list(tr.layer_logabsdet), is_act)
    base = -0.5 * (tr.z**2).sum(-1) - 72.0 * np.log(2.0 * np.pi)
    np.testing.assert_allclose((base + total).numpy(), ref, rtol=1e-12, atol=0)


def _sample(model, fx, dtype):
    ctx, _ = _ctx(fx, dtype)
    z = torch.from_numpy(fx["z"]).to(dtype)
    assert torch.all(z[:, 0] == 0)
    with torch.no_grad():
        return model.sample(ctx, num_samples=z.shape[1], z=z[:, 1:])


def test_sample_parity_float64(fx, official):
    model = official["f64"]
    out = _sample(model, fx, torch.float64)
    assert out.pose_6d.shape == (3, 3, 144) and out.log_prob.shape == (3, 3)
    np.testing.assert_allclose(out.pose_6d.numpy(), fx["sample_pose6d_f64"], rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(out.log_prob.numpy(), fx["sample_logprob_f64"], rtol=0, atol=2e-6)
    # Exact once the official float32 log|det| total of the inverse pass is re-applied.
    dets, is_act = [], []
    for t in reversed(model.flow.transforms):
        if isinstance(t, ActNorm):
            dets.append(-t.log_scale.sum().expand(3 * 3))
        elif isinstance(t, LULinear):
            dets.append(-t.logabsdet().expand(3 * 3))
        else:
            dets.append(torch.zeros(9, dtype=torch.float64))
        is_act.append(isinstance(t, ActNorm))
    with torch.no_grad():
        total = _official_float32_total(dets, is_act).reshape(3, 3)
        base = -0.5 * (out.z**2).sum(-1) - 72.0 * np.log(2.0 * np.pi)
    np.testing.assert_allclose((base - total).numpy(), fx["sample_logprob_f64"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(out.betas.numpy(), fx["sample_betas_f64"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out.cam_crop.numpy(), fx["sample_cam_f64"], rtol=1e-10, atol=1e-12)
    rotmat = rot6d_to_rotmat(out.pose_6d.reshape(3, 3, 24, 6), order="col")  # (B, S, 24, 3, 3)
    np.testing.assert_allclose(rotmat.numpy(), fx["sample_rotmat_f64"], rtol=0, atol=1e-10)
    cam_t = _cam_t_full(fx, out.cam_crop)
    np.testing.assert_allclose(cam_t.numpy(), fx["sample_cam_t_full_f64"], rtol=1e-10, atol=1e-12)


def _cam_t_full(fx, cam_crop):
    like = cam_crop
    col = lambda name: torch.from_numpy(fx[name]).to(like.dtype)[:, None]  # noqa: E731  (B, 1)
    center = torch.from_numpy(fx["bbox_center"]).to(like.dtype)[:, None, :]  # (B, 1, 2)
    return crop_cam_to_full_transl(cam_crop, center, col("bbox_size"), col("cam_fx"), col("cam_cx"), col("cam_cy"))


def test_logprob_parity_float32(fx, official):
    model = official["f32"]
    ctx, x = _ctx(fx, torch.float32)
    with torch.no_grad():
        lp = model.log_prob(x, ctx)
        z, _ = model.flow.transform_to_noise(x, ctx)
    # Tolerances: about 10x the official f32-f64 gaps of the README (logprob 2.5e-5, z 9e-7).
    np.testing.assert_allclose(lp.numpy(), fx["logprob_f32"][:, 0], rtol=0, atol=2.5e-4)
    np.testing.assert_allclose(z.numpy(), fx["logprob_z_f32"][:, 0], rtol=0, atol=9e-6)


def test_sample_parity_float32(fx, official):
    model = official["f32"]
    out = _sample(model, fx, torch.float32)
    np.testing.assert_allclose(out.pose_6d.numpy(), fx["sample_pose6d_f32"], rtol=0, atol=8e-5)
    np.testing.assert_allclose(out.log_prob.numpy(), fx["sample_logprob_f32"], rtol=0, atol=2.5e-4)
    np.testing.assert_allclose(out.betas.numpy(), fx["sample_betas_f32"], rtol=0, atol=3e-6)
    np.testing.assert_allclose(out.cam_crop.numpy(), fx["sample_cam_f32"], rtol=0, atol=3e-6)
    rotmat = rot6d_to_rotmat(out.pose_6d.reshape(3, 3, 24, 6), order="col")
    np.testing.assert_allclose(rotmat.numpy(), fx["sample_rotmat_f32"], rtol=0, atol=3e-5)
    np.testing.assert_allclose(_cam_t_full(fx, out.cam_crop).numpy(), fx["sample_cam_t_full_f32"], rtol=0, atol=2e-5)
    # The official mode call (z = zeros) equals our index 0.
    np.testing.assert_allclose(out.pose_6d[:, :1].numpy(), fx["mode_pose6d_f32"], rtol=0, atol=8e-5)
    np.testing.assert_allclose(out.log_prob[:, :1].numpy(), fx["mode_logprob_f32"], rtol=0, atol=2.5e-4)
    np.testing.assert_allclose(out.betas[:, :1].numpy(), fx["mode_betas_f32"], rtol=0, atol=3e-6)
    np.testing.assert_allclose(out.cam_crop[:, :1].numpy(), fx["mode_cam_f32"], rtol=0, atol=3e-6)


# ---------------------------------------------------------------------------------------------------------------
# Small random flows (float64): maths checks that do not depend on the fixture.
# ---------------------------------------------------------------------------------------------------------------


def _small_flow(seed: int = 0) -> ConditionalGlow:
    gen = torch.Generator().manual_seed(seed)
    glow = ConditionalGlow(features=6, hidden_features=8, num_layers=2, context_features=3).double()
    with torch.no_grad():
        for name, p in glow.named_parameters():
            p.copy_(
                0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype)
                + (1.0 if "batch_norm" in name and name.endswith("weight") else 0.0)
            )
        for name, buf in glow.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(0.1 * torch.randn(buf.shape, generator=gen, dtype=buf.dtype))
            elif name.endswith("running_var"):
                buf.copy_(1.0 + 0.2 * torch.rand(buf.shape, generator=gen, dtype=buf.dtype))
            elif name.endswith("initialized"):
                buf.fill_(True)
    return glow.eval()


def test_inverse_roundtrip_and_logdet_against_jacobian():
    glow = _small_flow()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    c = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    z, det = glow.transform_to_noise(x, c)
    x_back, det_inv = glow.transform_to_data(z, c)
    torch.testing.assert_close(x_back, x, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(det_inv, -det, rtol=1e-12, atol=1e-12)
    for b in range(4):
        ctx_b = c[b : b + 1]
        jac = torch.autograd.functional.jacobian(lambda v, cb=ctx_b: glow.transform_to_noise(v[None], cb)[0][0], x[b])
        torch.testing.assert_close(det[b], torch.linalg.slogdet(jac).logabsdet, rtol=1e-10, atol=1e-10)


def test_lu_weight_matches_forward():
    lu = LULinear(5).double()
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in lu.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))
    x = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    y, det = lu(x)
    torch.testing.assert_close(y, x @ lu.weight().T + lu.bias)
    torch.testing.assert_close(det, torch.linalg.slogdet(lu.weight()).logabsdet.expand(3))
    lower, upper, _ = lu.factors()
    assert torch.all(torch.diagonal(lower) == 1) and torch.all(torch.triu(lower, 1) == 0)
    assert torch.all(torch.tril(upper, -1) == 0)
    assert lower[1, 0] == lu.lower_entries[0] and lower[2, 0] == lu.lower_entries[1]  # row-major fill
    assert upper[0, 1] == lu.upper_entries[0] and upper[1, 2] == lu.upper_entries[4]
    torch.testing.assert_close(LULinear(5).weight(), torch.eye(5))  # identity at initialisation


def test_sample_mode_first_batched_and_consistent():
    glow = _small_flow(3)
    gen = torch.Generator().manual_seed(4)
    c = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    calls = []
    original = glow.transform_to_data

    def counting(z, context):
        calls.append(z.shape[0])
        return original(z, context)

    glow.transform_to_data = counting
    out = glow.sample(c, num_samples=5, generator=torch.Generator().manual_seed(5))
    assert calls == [10]  # one batched inverse pass for B * S rows
    assert out.pose_6d.shape == (2, 5, 6) and out.log_prob.shape == (2, 5) and out.z.shape == (2, 5, 6)
    assert torch.all(out.z[:, 0] == 0)
    mode = glow.sample(c, num_samples=1)
    torch.testing.assert_close(out.pose_6d[:, 0], mode.pose_6d[:, 0], rtol=1e-12, atol=1e-12)
    again = glow.sample(c, num_samples=5, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(again.pose_6d, out.pose_6d, rtol=0, atol=0)
    lp = glow.log_prob(out.pose_6d.reshape(10, 6), c.repeat_interleave(5, dim=0)).reshape(2, 5)
    torch.testing.assert_close(lp, out.log_prob, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="S - 1"):
        glow.sample(c, num_samples=3, z=torch.zeros(2, 3, 6, dtype=torch.float64))


def test_gradients_flow_in_training():
    glow = ConditionalGlow(features=6, hidden_features=8, num_layers=2, context_features=3)
    glow.train()
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(16, 6, generator=gen)
    c = torch.randn(16, 3, generator=gen, requires_grad=True)
    loss = -glow.log_prob(x, c).mean()
    loss.backward()
    assert torch.isfinite(loss)
    for name, p in glow.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert c.grad is not None and c.grad.abs().sum() > 0
    names_with_grad = {n for n, p in glow.named_parameters() if p.grad.abs().sum() > 0}
    assert any("log_scale" in n for n in names_with_grad) and any("lower_entries" in n for n in names_with_grad)
    assert any("initial_layer" in n for n in names_with_grad)


def test_actnorm_data_dependent_init():
    gen = torch.Generator().manual_seed(7)
    x = 3.0 + 5.0 * torch.randn(64, 6, generator=gen, dtype=torch.float64) * torch.arange(1, 7, dtype=torch.float64)
    act = ActNorm(6).double()
    act.eval()
    y, _ = act(x)  # eval mode: no initialisation
    assert not bool(act.initialized)
    torch.testing.assert_close(y, x)
    act.train()
    y, det = act(x)
    assert bool(act.initialized)
    torch.testing.assert_close(y.mean(0), torch.zeros(6, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(y.std(0), torch.ones(6, dtype=torch.float64), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(det, act.log_scale.sum().expand(64))
    y2, _ = act(2.0 * x)  # a second batch does not re-initialise
    torch.testing.assert_close(y2.std(0), 2.0 * torch.ones(6, dtype=torch.float64))
    # Through the whole flow: the first ActNorm's output is standardised on the first training batch.
    glow = ConditionalGlow(features=6, hidden_features=8, num_layers=1, context_features=3).double().train()
    tr = glow.trace(x, torch.zeros(64, 3, dtype=torch.float64))
    torch.testing.assert_close(tr.layer_outputs[0].mean(0), torch.zeros(6, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(tr.layer_outputs[0].std(0), torch.ones(6, dtype=torch.float64))
