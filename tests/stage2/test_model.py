"""EgoHMRModel: training step, losses, validation step, config presets."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch

from egohmr.stage2 import losses as L
from egohmr.stage2.config import PRESETS, Stage2Config, Stage2LossWeights, stage2_preset
from tests.stage2.helpers import synthetic_batch, tiny_config, tiny_model


def test_every_loss_weight_has_a_loss_function_and_back():
    weights = {f.name for f in dataclasses.fields(Stage2LossWeights)}
    functions = {
        name[len("loss_") :] for name, _ in inspect.getmembers(L, inspect.isfunction) if name.startswith("loss_")
    }
    assert weights == functions


def test_training_step_is_finite_and_backpropagates():
    model = tiny_model(tiny_config(penetration_start_step=5))
    batch = synthetic_batch(batch_size=4)
    out = model.training_step(batch, step=0)
    assert "loss_penetration" not in out  # before penetration_start_step
    out = model.training_step(batch, step=5)
    expected = {f"loss_{f.name}" for f in dataclasses.fields(Stage2LossWeights)}
    assert set(out) == expected | {"loss"}
    assert all(v.ndim == 0 and torch.isfinite(v) for v in out.values())
    out["loss"].backward()
    grads = [p.grad for p in model.denoiser.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in model.backbone.parameters())  # frozen
    assert all(not p.requires_grad for p in model.backbone.parameters())
    trainable = {id(p) for g in model.parameter_groups() for p in g["params"]}
    assert not any(id(p) in trainable for p in model.backbone.parameters())


def test_penetration_loss_is_positive_for_points_inside_the_body():
    model = tiny_model()
    batch = synthetic_batch(batch_size=2)
    # points at the GT translation's pelvis region of the decoded body: put many points around the root
    batch["scene_points_pv"] = batch["transl_pv"][:, None] + 0.03 * torch.randn(2, 300, 3)
    out = model.training_step(batch, step=10**9)
    assert out["loss_penetration"] > 0


def test_validation_step_reports_mpjpe_in_mm():
    model = tiny_model().eval()
    with torch.no_grad():
        metrics = model.validation_step(synthetic_batch(batch_size=2))
    assert set(metrics) == {"mpjpe_mm", "mpjpe_vis_mm"}
    assert all(torch.isfinite(v) and v > 0 for v in metrics.values())


def test_norm_stats_are_stored_with_the_weights():
    model = tiny_model()
    state = model.state_dict()
    assert state["x_std"].shape == (144,) and torch.equal(state["x_mean"], model.x_mean)
    with pytest.raises(ValueError, match="x_std"):
        model.set_norm_stats(torch.zeros(144), torch.zeros(144))


def test_presets_and_config_checks():
    assert set(PRESETS) == {"official", "cpu"}
    official = stage2_preset("official")
    assert official.model.gcn_hidden == 1024 and official.schedule.num_train_timesteps == 50
    assert official.train.best_metric == "mpjpe_vis_mm" and official.train.val_every_steps == 1000
    assert official.train_options.val_spacing == "ddim5" and official.test.guidance.max_timestep == 10
    cpu = stage2_preset("cpu")
    assert cpu.model.image_features == "cached" and cpu.train_options.cond_mask_prob == 0.15
    assert official.train_options.cond_mask_prob == 0.01
    assert official.train_options.condition_transl_noise_std_m == (0.0, 0.0, 0.0)
    assert cpu.train_options.condition_transl_noise_std_m == (0.3, 0.075, 0.45)
    with pytest.raises(ValueError, match="augment"):
        dataclasses.replace(tiny_config(), data=Stage2Config().data)
    with pytest.raises(ValueError, match="unknown"):
        stage2_preset("gpu")


def test_image_feature_dropout_acts_in_training_only():
    cfg = tiny_config(image_feature_dropout=0.5)
    model = tiny_model(cfg)
    batch = synthetic_batch()
    model.train()
    torch.manual_seed(0)
    train_a, _ = model.encode(batch, batch["transl_pv"])
    train_b, _ = model.encode(batch, batch["transl_pv"])
    assert not torch.equal(train_a.img_feat, train_b.img_feat)  # a new mask each call
    model.eval()
    eval_a, _ = model.encode(batch, batch["transl_pv"])
    eval_b, _ = model.encode(batch, batch["transl_pv"])
    assert torch.equal(eval_a.img_feat, eval_b.img_feat)
    with pytest.raises(ValueError, match="image_feature_dropout"):
        tiny_config(image_feature_dropout=1.0)


def test_condition_translation_noise_has_the_configured_per_axis_std():
    transl = torch.zeros(20000, 3, dtype=torch.float64)
    official = tiny_model()
    assert official.condition_translation(transl) is transl  # official: the GT translation, no RNG drawn
    noisy = tiny_model(tiny_config(condition_transl_noise_std_m=(0.2, 0.0, 0.3)))
    torch.manual_seed(0)
    std = noisy.condition_translation(transl).std(dim=0)
    assert std[1] == 0
    assert torch.allclose(std[[0, 2]], torch.tensor([0.2, 0.3], dtype=torch.float64), rtol=0.03)
    for bad in ((0.1, 0.1), (0.1, -0.1, 0.1), (0.1, float("nan"), 0.1)):
        with pytest.raises(ValueError, match="condition_transl_noise_std_m"):
            tiny_config(condition_transl_noise_std_m=bad)


def test_condition_translation_noise_reaches_the_denoiser_but_not_the_losses(monkeypatch):
    model = tiny_model(tiny_config(condition_transl_noise_std_m=(50.0, 50.0, 50.0)))
    batch = synthetic_batch(batch_size=4)
    seen = []
    encode = model.encode
    monkeypatch.setattr(model, "encode", lambda b, transl_pv: seen.append(transl_pv) or encode(b, transl_pv))
    out = model.training_step(batch, step=0)
    assert (seen[0] - batch["transl_pv"]).abs().min() > 1e-3  # the denoiser sees the noisy translation
    # full-frame joints with the 50 m noise would miss the GT by metres on every joint (L1 summed over 24 joints)
    assert out["loss_keypoints_3d_full"] < 24 * 3 * 2.0
