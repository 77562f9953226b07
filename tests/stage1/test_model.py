"""ProHMRScene: context layout, sampling, losses and gradients on a tiny configuration with random inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from egohmr.geometry.rotations import rot6d_to_rotmat
from egohmr.stage1 import losses as L
from egohmr.stage1.config import LossWeights
from egohmr.stage1.model import build_context, gt_pose_6d
from tests.stage1.helpers import random_batch, tiny_model


def test_context_layout_matches_golden(golden):
    fx = golden("stage1_flow")
    ctx = build_context(
        torch.from_numpy(fx["cam_fx"]),
        torch.from_numpy(fx["cam_cx"]),
        torch.from_numpy(fx["cam_cy"]),
        torch.from_numpy(fx["bbox_center"]),
        torch.from_numpy(fx["bbox_size"]),
        torch.from_numpy(fx["ctx_img_feat"]).double(),
        torch.from_numpy(fx["ctx_scene_feat"]).double(),
        1500.0,
    )
    np.testing.assert_allclose(ctx.float().numpy(), fx["context"], rtol=1e-6, atol=1e-7)


def test_forward_shapes_mode_first_and_translation():
    model = tiny_model().eval()
    batch = random_batch(3)
    z = torch.randn(3, 3, 144, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(batch, 4, z=z)
        ctx = model.context(batch)
        ref = model.flow.sample(ctx, 4, z=z)
    assert out.pose_rotmat.shape == (3, 4, 24, 3, 3)
    assert out.transl_full_pv.shape == (3, 4, 3) and out.log_prob.shape == (3, 4) and out.betas.shape == (3, 4, 10)
    torch.testing.assert_close(out.pose_6d, ref.pose_6d)
    with torch.no_grad():
        mode = model.flow.flow.transform_to_data(torch.zeros(3, 144), ctx)[0]
    torch.testing.assert_close(out.pose_6d[:, 0], mode)
    torch.testing.assert_close(out.pose_rotmat, rot6d_to_rotmat(out.pose_6d.reshape(3, 4, 24, 6), order="col"))
    # Translation: tz = 2 fx / (s b), from the head's crop camera with the real focal length.
    s = out.cam_crop[..., 0]
    tz = 2 * batch["fx"][:, None] / (s * batch["bbox_size_px"][:, None])
    torch.testing.assert_close(out.transl_full_pv[..., 2], tz)
    assert torch.equal(out.transl_full_pv[:, 0], out.transl_full_pv[:, 2])  # head does not see z


def test_training_step_terms_finite_and_all_parameters_get_gradients():
    model = tiny_model()
    batch = random_batch(4)
    model.on_train_start(batch)
    assert bool(model.initialized)
    out = model.training_step(batch, 0)
    for key, value in out.items():
        assert value.ndim == 0 and torch.isfinite(value), key
    for term in L.LOSS_TERMS:
        if term != "adversarial":
            assert any(k.startswith(f"loss_{term}") for k in out), term
    out["loss"].backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert no_grad == []
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_weights_scale_the_total_loss():
    batch = random_batch(4)
    zero = LossWeights(**{f.name: 0.0 for f in dataclasses.fields(LossWeights)})
    for field in ("keypoints_3d_mode", "v2v_mode", "nll", "orthogonal"):
        model = tiny_model(weights=dataclasses.replace(zero, **{field: 2.0})).eval()
        with torch.no_grad():
            out = model.validation_step(batch)
        term = f"loss_{field.removesuffix('_mode')}"
        expected = 2.0 * out[f"{term}_mode"] if field != "nll" else 2.0 * out[term]
        if field == "orthogonal":
            expected = 2.0 * (out["loss_orthogonal_mode"] + out["loss_orthogonal_exp"])
        torch.testing.assert_close(out["loss"], expected)
    with pytest.raises(ValueError, match="every loss weight is zero"):
        tiny_model(weights=zero).eval().validation_step(batch)


def test_loss_functions_on_known_values():
    pose = torch.eye(3)[:, :2].T.reshape(1, 1, 6).repeat(1, 2, 24)  # identity rotations in "col" 6D
    assert torch.allclose(L.loss_orthogonal(pose), torch.zeros(1, 2))
    gt = torch.zeros(1, 25, 3)
    gt[..., 2] = 1.0
    pred = torch.full((1, 1, 25, 2), 0.1)
    # 22 joints (3 ignored) x 2 coordinates x 0.1
    torch.testing.assert_close(L.loss_keypoints_2d_full(pred, gt), torch.tensor([[4.4]]))
    joints = torch.randn(2, 24, 3)
    shifted = (joints + torch.tensor([1.0, 2.0, 3.0]))[:, None]
    torch.testing.assert_close(L.loss_keypoints_3d(shifted, joints), torch.zeros(2, 1))
    torch.testing.assert_close(L.loss_keypoints_3d_full(shifted, joints), torch.full((2, 1), 6.0 * 24))


def test_frozen_backbone_and_cached_features():
    model = tiny_model(freeze_backbone=True, cached_features=True)
    model.train()
    assert not model.backbone.training and model.flow.training
    batch = random_batch(4, image=False)
    batch["img_feat"] = torch.rand(4, 1280)
    model.on_train_start(batch)
    model.training_step(batch, 0)["loss"].backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    names = {id(p) for g in model.parameter_groups() for p in g["params"]}
    assert not any(id(p) in names for p in model.backbone.parameters())


def test_gt_pose_6d_roundtrip():
    batch = random_batch(2)
    r = rot6d_to_rotmat(gt_pose_6d(batch).reshape(2, 24, 6), order="col")
    torch.testing.assert_close(r[:, 0], batch["global_orient_rotmat_pv"], atol=1e-5, rtol=0)
    torch.testing.assert_close(r[:, 1:], batch["body_pose_rotmat"], atol=1e-5, rtol=0)


def test_adversarial_prior_only_with_mocap(tmp_path, caplog):
    assert tiny_model().discriminator is None
    with caplog.at_level("INFO"):
        tiny_model().on_train_start(random_batch(4))
    assert "training without the adversarial pose prior" in caplog.text
    rng = np.random.default_rng(0)
    mocap = tmp_path / "cmu_mocap.npz"
    np.savez(mocap, body_pose=0.2 * rng.standard_normal((50, 72)), betas=rng.standard_normal((50, 10)))
    model = tiny_model(mocap_path=str(mocap))
    batch = random_batch(4)
    model.on_train_start(batch)
    out = model.training_step(batch, 0)
    assert torch.isfinite(out["loss_adversarial"]) and out["loss_adversarial"] > 0
    out["loss"].backward()
    before = model.discriminator.D_alljoints_out.weight.detach().clone()
    aux = model.auxiliary_step(batch, 0)
    assert np.isfinite(aux["loss_discriminator"])
    assert not torch.equal(before, model.discriminator.D_alljoints_out.weight)
    state = model.train_state_dict()
    assert set(state) == {"disc_optimizer", "mocap_batches"}
    other = tiny_model(mocap_path=str(mocap))
    other.load_train_state_dict(state)
    assert other.train_state_dict()["mocap_batches"] == state["mocap_batches"]
    main_params = {id(p) for g in model.parameter_groups() for p in g["params"]}
    assert not any(id(p) in main_params for p in model.discriminator.parameters())  # own optimizer


def test_actnorm_init_survives_constant_pose_entries():
    batch = random_batch(4)
    hinge = torch.eye(3).expand(4, 3, 3).clone()  # identical knee rotation in every sample: constant 6D entries
    batch["body_pose_rotmat"][:, 3] = hinge
    model = tiny_model()
    model.on_train_start(batch)
    assert torch.isfinite(model.training_step(batch, 0)["loss"])
