"""The memory model behind ``test.max_memory_gb``: measuring, fitting, picking the batch, collating per-frame inputs."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from egohmr.diffusion.schedulers import build_scheduler
from egohmr.stage2.batching import (
    GIB,
    MemoryModel,
    RunPeak,
    calibrate,
    calibration_steps,
    fit_memory_model,
    largest_batch,
    measure_peak_bytes,
    memory_capped_batch,
    repeat_images,
    weight_bytes,
)
from egohmr.stage2.pipeline import build_guidance, predict_samples
from tests.stage2.helpers import synthetic_batch, tiny_model

MIB = 1024**2


def test_fit_is_the_line_through_the_measurements_plus_the_weights():
    memory = fit_memory_model({1: 30 * MIB, 2: 50 * MIB}, fixed_bytes=7 * MIB)
    assert memory == MemoryModel(fixed_bytes=17 * MIB, per_image_bytes=20 * MIB)
    assert memory.peak_bytes(4) == 97 * MIB
    with pytest.raises(ValueError, match="at least two batch sizes"):
        fit_memory_model({1: 30 * MIB})


def test_fit_lies_on_or_above_uneven_measurements():
    peaks = {1: 10 * MIB, 2: 20 * MIB, 4: 34 * MIB}  # steepest slope 10 MiB/image between 1 and 2
    memory = fit_memory_model(peaks)
    assert memory.per_image_bytes == 10 * MIB
    assert all(memory.peak_bytes(b) >= v for b, v in peaks.items())
    assert memory.peak_bytes(1) == 10 * MIB


def test_noise_never_makes_larger_batches_cheaper():
    memory = fit_memory_model({1: 50 * MIB, 2: 49 * MIB})
    assert memory.per_image_bytes == 0.0
    assert memory.peak_bytes(8) >= memory.peak_bytes(1)


def test_largest_batch_is_the_most_images_under_the_cap():
    memory = MemoryModel(fixed_bytes=1 * GIB, per_image_bytes=0.25 * GIB)
    assert largest_batch(memory, 2.0) == 4  # 1 + 4 x 0.25 = 2 GiB exactly
    assert largest_batch(memory, 1.99) == 3
    assert largest_batch(memory, 1.25) == 1
    assert largest_batch(memory, 100.0, max_images=6) == 6
    caps = [1.25 + 0.1 * i for i in range(40)]
    picked = [largest_batch(memory, cap) for cap in caps]
    assert picked == sorted(picked) and picked[0] >= 1 and picked[-1] > picked[0]
    for cap, images in zip(caps, picked, strict=True):
        assert memory.peak_bytes(images) <= cap * GIB < memory.peak_bytes(images + 1)


def test_a_cap_below_one_image_names_the_setting_and_the_need():
    memory = MemoryModel(fixed_bytes=1 * GIB, per_image_bytes=0.5 * GIB)
    with pytest.raises(ValueError, match=r"test.max_memory_gb=1.2 is below what one image needs \(1.50 GiB"):
        largest_batch(memory, 1.2)


def test_cpu_peak_counts_tensors_alive_together_not_all_allocations():
    with measure_peak_bytes("cpu") as together:
        a = torch.ones(MIB // 4)  # 1 MiB of float32
        b = torch.ones(MIB // 4)
        del a, b
    with measure_peak_bytes("cpu") as in_turn:
        for _ in range(5):
            c = torch.ones(MIB // 4)
            del c
    assert 2 * MIB <= together.value < 2.1 * MIB
    assert MIB <= in_turn.value < 1.1 * MIB


def test_cpu_peak_ignores_tensors_that_existed_before():
    weights = torch.ones(4 * MIB)
    with measure_peak_bytes("cpu") as peak:
        weights.mul_(2.0)  # in place: no new storage
        view = weights[:10]
        del view
    assert peak.value == 0


def test_calibration_steps_cover_the_first_and_the_guided_last_steps():
    assert calibration_steps(50) == [49, 1, 0]
    assert calibration_steps(2) == [1, 0]
    assert calibration_steps(1) == [0]


@pytest.fixture(scope="module")
def sampling():
    model = tiny_model().eval()
    settings = dataclasses.replace(model.cfg.test, num_samples=3, max_memory_gb=1.0)
    scheduler = build_scheduler(model.cfg.schedule, "ddim", "ddim5")
    return model, settings, scheduler, build_guidance(model, settings)


def _one_call(model, settings, scheduler, guidance):
    def run_call(batch):
        images = batch["transl_stage1_pv"].shape[0]
        predict_samples(
            model,
            batch,
            batch["transl_stage1_pv"],
            settings.num_samples,
            scheduler,
            guidance=guidance,
            generator=torch.Generator().manual_seed(0),
            timesteps=calibration_steps(scheduler.num_steps),
        )
        return images

    return run_call


def test_calibrated_model_predicts_a_larger_batch_it_never_measured(sampling):
    model, settings, scheduler, guidance = sampling
    example = synthetic_batch(1, num_points=500)
    run_call = _one_call(model, settings, scheduler, guidance)
    memory = calibrate(run_call, example, "cpu", weight_bytes(model))
    assert memory.fixed_bytes >= weight_bytes(model) and memory.per_image_bytes > 0
    for images in (6, 8):
        with measure_peak_bytes("cpu") as measured:
            run_call(repeat_images(example, images))
        predicted = memory.peak_bytes(images) - weight_bytes(model)
        assert measured.value <= predicted < 1.3 * measured.value


def test_memory_capped_batch_grows_with_the_cap_and_refuses_a_tiny_one(sampling):
    model, settings, scheduler, guidance = sampling
    example = synthetic_batch(1, num_points=500)
    transl = example["transl_stage1_pv"]

    def picked(cap_gb: float) -> int:
        capped = dataclasses.replace(settings, max_memory_gb=cap_gb)
        return memory_capped_batch(model, example, transl, capped, scheduler, guidance)

    needs = calibrate(_one_call(model, settings, scheduler, guidance), example, "cpu", weight_bytes(model))
    one_image_gb = needs.peak_bytes(1) / GIB
    small, large = picked(one_image_gb * 1.05), picked(one_image_gb * 4)
    assert 1 <= small < large
    with pytest.raises(ValueError, match="below what one image needs"):
        picked(one_image_gb / 2)


def test_repeat_images_copies_one_image_along_the_batch():
    example = synthetic_batch(1)
    three = repeat_images(example, 3)
    assert three["scene_points_pv"].shape == (3, *example["scene_points_pv"].shape[1:])
    torch.testing.assert_close(three["img_feat"][2], example["img_feat"][0])


def test_run_peak_reports_the_process_peak_on_cpu():
    peak = RunPeak("cpu")
    peak.start()
    held = torch.ones(64 * MIB // 4)  # 64 MiB touched
    held += 1
    measured = peak.bytes()
    if measured is None:
        pytest.skip("no /proc/self/status on this system")
    assert measured >= 64 * MIB
    assert "RSS" in peak.counts
