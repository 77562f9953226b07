from dataclasses import dataclass, field
from typing import Literal

import pytest

from egohmr.config import ConfigError, apply_overrides, config_to_yaml, load_config


@dataclass(frozen=True)
class Inner:
    lr: float = 1e-4
    sampler: Literal["ddpm", "ddim"] = "ddpm"
    sizes: tuple[int, ...] = (1, 2)


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    steps: int = 10
    inner: Inner = field(default_factory=Inner)


PRESETS = {"small": Outer(steps=2)}


def test_override_parses_yaml_values_and_nests():
    cfg = apply_overrides(Outer(), ["inner.lr=3e-3", "inner.sampler=ddim", "inner.sizes=[4, 5, 6]", "steps=7"])
    assert cfg.inner.lr == pytest.approx(3e-3)
    assert cfg.inner.sampler == "ddim" and cfg.inner.sizes == (4, 5, 6) and cfg.steps == 7


def test_unknown_key_lists_valid_keys():
    with pytest.raises(
        ConfigError, match=r"inner: unknown key\(s\) \['lrr'\]; valid keys: \['lr', 'sampler', 'sizes'\]"
    ):
        apply_overrides(Outer(), ["inner.lrr=1"])


def test_wrong_type_and_bad_choice_are_errors():
    with pytest.raises(ConfigError, match="steps: expected an integer"):
        apply_overrides(Outer(), ["steps=1.5"])
    with pytest.raises(ConfigError, match="not one of"):
        apply_overrides(Outer(), ["inner.sampler=euler"])


def test_yaml_file_with_preset_round_trips(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("preset: small\ninner:\n  lr: 0.5\n")
    cfg = load_config(Outer, path, ["name=y"], presets=PRESETS)
    assert (cfg.steps, cfg.inner.lr, cfg.name) == (2, 0.5, "y")
    saved = tmp_path / "saved.yaml"
    saved.write_text(config_to_yaml(cfg))
    assert load_config(Outer, saved) == cfg


def test_unknown_preset_or_missing_file():
    with pytest.raises(FileNotFoundError, match="neither a preset"):
        load_config(Outer, "nope", presets=PRESETS)
