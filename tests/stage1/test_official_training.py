"""Stage-1 training under the official preset is the official training (issue 18): the flow's row grouping in
training, the discriminator loss normalisation and the mocap walk."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from egohmr.config.core import ConfigError
from egohmr.constants import NUM_BODY_JOINTS, POSE_6D_DIM
from egohmr.geometry.rotations import axis_angle_to_rotmat
from egohmr.stage1.config import cpu_preset, load_stage1_config, official_preset
from egohmr.stage1.discriminator import AdversarialPrior, MocapBatches, PoseDiscriminator, discriminator_loss
from egohmr.stage1.losses import loss_adversarial
from tests.stage1.helpers import random_batch, tiny_model

B, S = 4, 3  # tiny_model trains with num_train_samples = 3


def _conditioner_batch_norms(model) -> list[torch.nn.BatchNorm1d]:
    return [m for m in model.flow.flow.modules() if isinstance(m, torch.nn.BatchNorm1d)]


def _trained_start(**changes):
    """A tiny model in training mode after its ActNorm initialisation, and its batch and detached context."""
    model = tiny_model(**changes)
    batch = random_batch(B)
    model.on_train_start(batch)
    model.train()
    with torch.no_grad():
        context = model.context(batch)
    return model, batch, context


def _record_flow_passes(model) -> list[tuple[int, bool]]:
    """Spy on the flow's noise -> data passes: (rows, all latents zero) of each call, in order."""
    calls: list[tuple[int, bool]] = []
    glow = model.flow.flow
    original = glow.transform_to_data

    def spy(z, context):
        calls.append((z.shape[0], bool((z == 0).all())))
        return original(z, context)

    glow.transform_to_data = spy
    return calls


def test_presets_choose_the_flow_passes():
    assert official_preset().model.train_flow_passes == "official_two_pass"
    assert cpu_preset().model.train_flow_passes == "one_pass"  # the packaged stage1_cpu.pt recipe
    with pytest.raises(ConfigError, match="model.train_flow_passes"):
        load_stage1_config("official", ["model.train_flow_passes=three_pass"])


def test_training_step_runs_random_rows_then_modes():
    model, batch, _ = _trained_start()
    calls = _record_flow_passes(model)
    model.training_step(batch, 0)
    assert calls == [(B * (S - 1), False), (B, True)]


def test_one_pass_option_runs_all_rows_at_once():
    model, batch, _ = _trained_start(train_flow_passes="one_pass")
    calls = _record_flow_passes(model)
    model.training_step(batch, 0)
    assert calls == [(B * S, False)]


def test_two_pass_sampling_matches_a_manual_two_pass_bit_for_bit():
    model, batch, context = _trained_start()
    reference = copy.deepcopy(model)
    z = torch.randn(B, S - 1, POSE_6D_DIM, generator=torch.Generator().manual_seed(3))
    counts = [int(bn.num_batches_tracked) for bn in _conditioner_batch_norms(model)]
    assert counts

    torch.manual_seed(11)  # dropout draws
    out = model.predict(context, batch, S, z=z)
    torch.manual_seed(11)
    glow = reference.flow.flow
    x_rand, _ = glow.transform_to_data(z.reshape(B * (S - 1), -1), context.repeat_interleave(S - 1, dim=0))
    x_mode, _ = glow.transform_to_data(torch.zeros(B, POSE_6D_DIM), context)

    assert torch.equal(out.pose_6d[:, 0], x_mode)  # mode first
    assert torch.equal(out.pose_6d[:, 1:], x_rand.reshape(B, S - 1, -1))
    assert torch.equal(out.cam_crop[:, 0], out.cam_crop[:, -1])
    pairs = zip(_conditioner_batch_norms(model), _conditioner_batch_norms(reference), counts, strict=True)
    for bn, ref_bn, before in pairs:
        assert int(bn.num_batches_tracked) == before + 2  # one running-statistics update per pass
        assert torch.equal(bn.running_mean, ref_bn.running_mean)
        assert torch.equal(bn.running_var, ref_bn.running_var)


def test_two_pass_draws_the_latents_first_from_the_global_generator():
    model, _, context = _trained_start()
    torch.manual_seed(5)
    sample = model.sample_flow(context, S)
    torch.manual_seed(5)
    assert torch.equal(sample.z[:, 1:], torch.randn(B, S - 1, POSE_6D_DIM))
    assert torch.equal(sample.z[:, 0], torch.zeros(B, POSE_6D_DIM))


def test_row_grouping_changes_training_outputs_not_evaluation_outputs():
    outputs = {}
    for passes in ("official_two_pass", "one_pass"):
        model, batch, context = _trained_start(train_flow_passes=passes, flow_dropout=0.0)
        z = torch.randn(B, S - 1, POSE_6D_DIM, generator=torch.Generator().manual_seed(3))
        model.eval()
        calls = _record_flow_passes(model)
        eval_pose = model.predict(context, batch, S, z=z).pose_6d
        assert calls == [(B * S, False)]  # evaluation: one pass on running statistics
        model.train()
        outputs[passes] = (model.predict(context, batch, S, z=z).pose_6d, eval_pose)
    (train_two, eval_two), (train_one, eval_one) = outputs["official_two_pass"], outputs["one_pass"]
    assert not torch.allclose(train_two, train_one, atol=1e-4)  # BatchNorm batch statistics per pass
    assert torch.equal(eval_two, eval_one)


# ---------------------------------------------------------------------------------------------------- discriminator
def test_discriminator_loss_averages_each_part_over_its_own_rows():
    fake = torch.tensor([[0.5, -1.0], [2.0, 0.0], [1.0, 1.0]])  # 3 fake rows (B * S), 2 outputs each
    real = torch.tensor([[1.0, 3.0], [0.0, 1.5]])  # 2 mocap rows (B)
    by_hand = (0.25 + 1.0 + 4.0 + 0.0 + 1.0 + 1.0) / 3 + (0.0 + 4.0 + 1.0 + 0.25) / 2
    assert discriminator_loss(real, fake).item() == pytest.approx(by_hand)


def test_generator_loss_divides_by_the_image_batch():
    scores = torch.tensor([[0.0, 2.0], [1.0, 3.0], [0.5, 1.0], [1.0, 1.0]])  # B * S = 4 rows, B = 2
    assert loss_adversarial(scores, batch_size=2).item() == pytest.approx((1.0 + 1.0 + 0.0 + 4.0 + 0.25) / 2)


def _mocap_file(tmp_path, rows: int = 10) -> str:
    rng = np.random.default_rng(0)
    path = tmp_path / "cmu_mocap.npz"
    np.savez(path, body_pose=0.2 * rng.standard_normal((rows, 72)), betas=rng.standard_normal((rows, 10)))
    return str(path)


def test_discriminator_update_is_the_official_step(tmp_path):
    torch.manual_seed(0)
    disc = PoseDiscriminator()
    prior = AdversarialPrior(disc, _mocap_file(tmp_path), loss_weight=0.5)
    fake_pose = axis_angle_to_rotmat(0.3 * torch.randn(B * S, NUM_BODY_JOINTS, 3))
    fake_betas = torch.randn(B * S, 10)
    prior.generator_loss(fake_pose, fake_betas, B)
    torch.manual_seed(123)  # the mocap walk is seeded with torch.initial_seed()
    rows = MocapBatches(10, seed=123).next(B)
    mocap = np.load(tmp_path / "cmu_mocap.npz")
    real_pose = axis_angle_to_rotmat(torch.from_numpy(mocap["body_pose"][rows.numpy(), 3:]).float().reshape(B, 23, 3))
    real_betas = torch.from_numpy(mocap["betas"][rows.numpy()]).float()
    with torch.no_grad():
        d_fake, d_real = disc(fake_pose, fake_betas), disc(real_pose, real_betas)
    official = (d_fake**2).sum() / (B * S) + ((d_real - 1.0) ** 2).sum() / B
    ours_before = ((d_real - 1.0) ** 2).sum() / B + (d_fake**2).sum() / B  # what issue 18 found: S times the fake part

    reported = prior.update()["loss_discriminator"]

    assert reported == pytest.approx(official.item(), rel=1e-5)
    assert reported != pytest.approx(ours_before.item(), rel=1e-3)
    assert prior.batches.state_dict() == {"seed": 123, "epoch": 0, "offset": B}


# ---------------------------------------------------------------------------------------------------- mocap walk
def test_mocap_batches_walk_each_pass_without_replacement():
    walk = MocapBatches(10, seed=7)
    first = [walk.next(4) for _ in range(3)]
    assert [len(rows) for rows in first] == [4, 4, 2]  # like a DataLoader without drop_last
    assert sorted(torch.cat(first).tolist()) == list(range(10))
    second = torch.cat([walk.next(4) for _ in range(3)])
    assert sorted(second.tolist()) == list(range(10))
    assert not torch.equal(torch.cat(first), second)  # reshuffled per pass
    again = MocapBatches(10, seed=7)
    assert torch.equal(torch.cat([again.next(4) for _ in range(3)]), torch.cat(first))  # deterministic
    assert not torch.equal(MocapBatches(10, seed=8).next(10), torch.cat(first))


def test_mocap_walk_resumes_exactly():
    walk = MocapBatches(10, seed=7)
    for _ in range(4):  # into the second pass
        walk.next(3)
    state = walk.state_dict()
    resumed = MocapBatches(10, seed=0)
    resumed.load_state_dict(state)
    for _ in range(5):
        assert torch.equal(walk.next(3), resumed.next(3))


def test_model_train_state_carries_the_mocap_walk(tmp_path):
    mocap = _mocap_file(tmp_path)
    model = tiny_model(mocap_path=mocap)
    batch = random_batch(B)
    model.on_train_start(batch)
    model.train()
    for step in range(2):
        model.training_step(batch, step)
        model.auxiliary_step(batch, step)
    state = model.train_state_dict()
    assert (state["mocap_batches"]["epoch"], state["mocap_batches"]["offset"]) == (0, 2 * B)
    resumed = tiny_model(mocap_path=mocap)
    resumed.load_train_state_dict(state)
    assert torch.equal(resumed.adversarial.real_batch(B)[1], model.adversarial.real_batch(B)[1])
