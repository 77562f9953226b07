"""The YAML presets live in the package and are found by name, by file name and by path."""

from __future__ import annotations

import pytest

from egohmr.config import packaged_config
from egohmr.config.core import PACKAGED_CONFIG_DIR
from egohmr.stage1.config import load_stage1_config
from egohmr.stage2.config import load_stage2_config


def test_every_packaged_yaml_sits_inside_the_package():
    names = sorted(p.stem for p in PACKAGED_CONFIG_DIR.glob("*.yaml"))
    presets = ["stage1_cpu", "stage1_cpu_20k", "stage1_official", "stage2_cpu", "stage2_cpu_20k", "stage2_official"]
    assert names == presets
    assert PACKAGED_CONFIG_DIR.parent.name == "egohmr"


@pytest.mark.parametrize("source", ["stage2_cpu", "stage2_cpu.yaml"])
def test_packaged_name_loads_the_packaged_file(source, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing named like it in the working folder: a wheel install
    cfg = load_stage2_config(source)
    assert cfg.data.root == "data/synth" and cfg.model == load_stage2_config("cpu").model
    assert cfg.data.resolved_scene_dir_train() == "data/synth/Egohmr_scene_preprocess_cube_s2_from_gt_release"


def test_yaml_path_still_loads_and_wins_over_a_packaged_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stage1_cpu.yaml").write_text("preset: cpu\ntrain:\n  max_steps: 11\n")
    assert load_stage1_config("stage1_cpu.yaml").train.max_steps == 11
    assert load_stage1_config(str(tmp_path / "stage1_cpu.yaml")).train.max_steps == 11
    assert load_stage1_config("stage1_cpu").train.max_steps == load_stage1_config("cpu").train.max_steps


def test_unknown_names_and_missing_folders_are_refused(tmp_path):
    assert packaged_config("nope") is None
    assert packaged_config("somewhere/stage1_cpu.yaml") is None  # a path is a path, not a packaged name
    with pytest.raises(FileNotFoundError, match="stage1_cpu"):
        load_stage1_config(str(tmp_path / "missing.yaml"))


def test_shipped_recipes_are_the_cpu_presets_with_their_data_and_length():
    s1, s2 = load_stage1_config("stage1_cpu_20k"), load_stage2_config("stage2_cpu_20k")
    assert s1.model == load_stage1_config("cpu").model and (s1.train.max_steps, s1.data.val_spacing) == (4000, 6)
    assert s2.model == load_stage2_config("cpu").model and s2.data.num_scene_points_file == 4096
    assert (s2.train.max_steps, s2.train.val_subsample) == (4000, 6)
