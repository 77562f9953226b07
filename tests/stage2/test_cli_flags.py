"""`egohmr train stage2` and `egohmr test stage2`: every flag reaches the config / settings field the stage receives;
the sampling flags default to the checkpoint's `Stage2TestConfig`."""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path

import pytest

from egohmr.diffusion.guidance import GuidanceConfig
from egohmr.stage2 import checkpoint, evaluation
from egohmr.stage2 import train as stage2_train
from egohmr.stage2.config import Stage2Config, Stage2TestConfig, fast_sampling
from egohmr.train.inference_checkpoint import LoadedStage
from tests.cli.helpers import run_command


@pytest.fixture
def trained(monkeypatch):
    """Captures the (cfg, resume) that `egohmr train stage2` hands to `egohmr.stage2.train.train`."""
    calls: list[tuple] = []

    def fake_train(cfg, resume=False):
        calls.append((cfg, resume))
        return types.SimpleNamespace(
            step=0,
            best_value=None,
            best_step=None,
            run_dir="run",
            best_checkpoint=None,
            last_checkpoint="run/last.pt",
            samples_per_s=0.0,
        )

    monkeypatch.setattr(stage2_train, "train", fake_train)
    return calls


TRAIN_FLAGS = [
    (["--config", "cpu"], lambda c, _: c.model.image_features == "cached" and c.schedule.prediction == "v"),
    (["--set", "model.gcn_blocks=3", "data.root=/x"], lambda c, _: (c.model.gcn_blocks, c.data.root) == (3, "/x")),
    (["--out", "/tmp/run_s2"], lambda c, _: c.train.out_dir == Path("/tmp/run_s2")),
    (["--resume"], lambda _, resume: resume is True),
    (["--seed", "7"], lambda c, _: c.train.seed == 7),
    (["--device", "cpu"], lambda c, _: c.train.device == "cpu"),
]


@pytest.mark.parametrize(("flags", "reached"), TRAIN_FLAGS, ids=[f[0][0] for f in TRAIN_FLAGS])
def test_train_flag_reaches_its_config_field(trained, flags, reached):
    assert run_command(["train", "stage2", *flags]) == 0
    ((cfg, resume),) = trained
    assert reached(cfg, resume)


CHECKPOINT_TEST = Stage2TestConfig(
    sampler="ddim",
    spacing="ddim5",
    num_samples=3,
    diffuse_fuse=False,
    guidance=GuidanceConfig(enabled=False, weight=7.0, max_timestep=8),
    visible_noise_scale=0.5,
    eta=0.3,
    return_mode="final",
    mode="reference",
    batch_size=2,
    max_memory_gb=2.0,
    seed=4,
)
"""The `test` settings stored in the fake checkpoint: every field differs from the defaults."""


@pytest.fixture
def tested(monkeypatch):
    """Captures the checkpoint path, `Stage2TestRun` and `Stage2TestConfig` that `egohmr test stage2` hands over."""
    calls: dict = {}
    cfg = dataclasses.replace(Stage2Config(), test=CHECKPOINT_TEST)

    def fake_load(path):
        calls["checkpoint"] = path
        return LoadedStage(model=None, cfg=cfg, path=Path(path), kind="ours", description="", provenance={})

    def fake_evaluate(loaded, run, settings):
        calls.update(run=run, settings=settings)
        assert loaded.cfg.test == CHECKPOINT_TEST  # the settings travel separately; the model's config is untouched
        return evaluation.Stage2TestResult(run.out_dir, None, 1)

    monkeypatch.setattr(checkpoint, "load_with_source", fake_load)
    monkeypatch.setattr(evaluation, "evaluate", fake_evaluate)
    return calls


REQUIRED = ["--checkpoint", "ck.pt", "--dataset", "DATA", "--scene-dir", "CUBES", "--stage1-results", "s1.pkl"]
REQUIRED += ["--out", "OUT"]


def test_sampling_flags_default_to_the_checkpoint_settings(tested):
    assert run_command(["test", "stage2", *REQUIRED]) == 0
    assert tested["settings"] == CHECKPOINT_TEST
    run = tested["run"]
    assert tested["checkpoint"] == Path("ck.pt")
    assert (run.dataset_root, run.scene_dir, run.stage1_results, run.out_dir) == tuple(
        map(Path, ("DATA", "CUBES", "s1.pkl", "OUT"))
    )


SAMPLING_FLAGS = [
    (["--num-samples", "5"], lambda s: s.num_samples == 5),
    (["--sampler", "ddpm"], lambda s: s.sampler == "ddpm" and s.spacing == "ddim5"),
    (["--steps", "50"], lambda s: s.spacing == "ddim50"),  # with the checkpoint's ddim sampler
    (["--sampler", "ddpm", "--steps", "50"], lambda s: (s.sampler, s.spacing) == ("ddpm", "")),
    (["--sampler", "ddim", "--steps", "12"], lambda s: s.spacing == "12"),  # no integer stride gives 12 of 50
    (["--spacing", "5,1,1,1,1"], lambda s: (s.sampler, s.spacing) == ("ddim", "5,1,1,1,1")),
    (["--fuse"], lambda s: s.diffuse_fuse is True),
    (["--guidance"], lambda s: s.guidance == dataclasses.replace(CHECKPOINT_TEST.guidance, enabled=True)),
    (["--no-guidance"], lambda s: s.guidance.enabled is False),
    (["--guidance-weight", "2.5"], lambda s: (s.guidance.weight, s.guidance.max_timestep) == (2.5, 8)),
    (["--return-mode", "official"], lambda s: s.return_mode == "official"),
    (["--visible-noise-scale", "0.25"], lambda s: s.visible_noise_scale == 0.25),
    (["--eta", "1"], lambda s: s.eta == 1.0),
    (["--mode", "fast"], lambda s: s.mode == "fast"),
    (["--batch-size", "8"], lambda s: s.batch_size == 8),
    (["--max-memory-gb", "3.5"], lambda s: (s.max_memory_gb, s.batch_size) == (3.5, 2)),
    (["--seed", "11"], lambda s: s.seed == 11),
    (["--fast"], lambda s: s == fast_sampling(CHECKPOINT_TEST)),
    (
        ["--fast", "--guidance-weight", "9", "--num-samples", "5"],
        lambda s: (s.spacing, s.guidance.weight, s.num_samples) == (fast_sampling(CHECKPOINT_TEST).spacing, 9.0, 5),
    ),  # fmt: skip
]


@pytest.mark.parametrize(("flags", "reached"), SAMPLING_FLAGS, ids=[" ".join(f[0]) for f in SAMPLING_FLAGS])
def test_sampling_flag_reaches_its_settings_field(tested, flags, reached):
    assert run_command(["test", "stage2", *REQUIRED, *flags]) == 0
    assert reached(tested["settings"])


RUN_FLAGS = [
    (["--split", "val"], "split", "val"),
    (["--translation", "gt"], "translation", "gt"),
    (["--chunk-size", "3"], "chunk_size", 3),
    (["--workers", "2"], "num_workers", 2),
    (["--device", "cpu"], "device", "cpu"),
    (["--body", "open-lowres"], "body", "open-lowres"),
    (["--metric-mode", "official"], "metric_mode", "official"),
    (["--inside-test", "exact"], "inside_test", "exact"),
    (["--no-collision"], "collision", False),
]


@pytest.mark.parametrize(("flags", "field", "value"), RUN_FLAGS, ids=[f[1] for f in RUN_FLAGS])
def test_run_flag_reaches_its_run_field(tested, flags, field, value):
    assert run_command(["test", "stage2", *REQUIRED, *flags]) == 0
    assert getattr(tested["run"], field) == value


def test_out_of_range_settings_are_refused(tested):
    with pytest.raises(ValueError, match="test.num_samples"):
        run_command(["test", "stage2", *REQUIRED, "--num-samples", "0"])
    with pytest.raises(ValueError, match="--steps must be in 1..50"):
        run_command(["test", "stage2", *REQUIRED, "--steps", "51"])
    with pytest.raises(ValueError, match="timestep spacing '26,1'"):  # 26 steps in a section of 25
        run_command(["test", "stage2", *REQUIRED, "--spacing", "26,1"])
    with pytest.raises(ValueError, match="--steps and --spacing"):
        run_command(["test", "stage2", *REQUIRED, "--steps", "10", "--spacing", "10"])
    with pytest.raises(ValueError, match="test.max_memory_gb must be > 0"):
        run_command(["test", "stage2", *REQUIRED, "--max-memory-gb", "0"])
