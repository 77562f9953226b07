"""Flags agree across subcommands, and each producer's default output folder is its consumer's default input."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from egohmr.cli.main import build_parser
from egohmr.cli.preprocess import output_dir
from egohmr.stage1.config import Stage1DataConfig
from egohmr.stage1.evaluation import Stage1TestRun
from egohmr.stage2.config import Stage2DataConfig


def _leaf_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, parser) of every subcommand that runs something."""
    subactions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subactions and path:
        yield path, parser
    for action in subactions:
        for name, sub in action.choices.items():
            yield from _leaf_parsers(sub, (*path, name))


LEAVES = list(_leaf_parsers(build_parser()))
OLD_FLAGS = {"--root": "--dataset", "--body-model": "--body", "--samples": "--num-samples"}


def test_every_leaf_command_is_listed():
    names = {" ".join(path) for path, _ in LEAVES}
    assert {"preprocess scene-s1", "test stage1", "test stage2", "train stage2", "eval", "demo"} <= names


@pytest.mark.parametrize(("path", "parser"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_no_command_uses_a_retired_flag_name(path, parser):
    flags = {opt for action in parser._actions for opt in action.option_strings}
    assert not flags & OLD_FLAGS.keys(), f"{' '.join(path)}: use {[OLD_FLAGS[f] for f in flags & OLD_FLAGS.keys()]}"


@pytest.mark.parametrize(("path", "parser"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_verbose_is_accepted_after_the_subcommand(path, parser):
    flags = {opt for action in parser._actions for opt in action.option_strings}
    assert {"-v", "--verbose"} <= flags


def test_verbose_after_the_subcommand_sets_it_and_its_absence_keeps_the_top_level_value():
    parser = build_parser()
    base = ["test", "stage1", "--checkpoint", "c.pt", "--dataset", "D", "--out", "O"]
    assert parser.parse_args([*base, "-v"]).verbose is True
    assert parser.parse_args(["-v", *base]).verbose is True
    assert parser.parse_args(base).verbose is False


def _preprocess_out(step: str, dataset: Path, *extra: str) -> Path:
    return Path(output_dir(build_parser().parse_args(["preprocess", step, "--dataset", str(dataset), *extra])))


def test_scene_s1_default_is_what_stage1_reads(tmp_path):
    produced = _preprocess_out("scene-s1", tmp_path)
    assert produced == tmp_path / "preprocess_scene_s1"
    assert produced == Stage1TestRun(dataset_root=tmp_path, out_dir=tmp_path / "o").resolved_scene_dir()
    assert produced == Path(Stage1DataConfig(root=str(tmp_path)).resolved_scene_dir())


def test_scene_s2_defaults_are_what_stage2_reads(tmp_path):
    from egohmr.cli.test import stage2_test_run

    produced_train = _preprocess_out("scene-s2-train", tmp_path)
    produced_test = _preprocess_out("scene-s2-test", tmp_path, "--stage1-results", "r.pkl")
    assert produced_train == tmp_path / "Egohmr_scene_preprocess_cube_s2_from_gt_release"
    assert produced_test == tmp_path / "Egohmr_scene_preprocess_cube_s2_from_pred_release"
    data = Stage2DataConfig(root=str(tmp_path))
    assert Path(data.resolved_scene_dir_train()) == produced_train
    assert Path(data.resolved_scene_dir_test()) == produced_test
    argv = ["test", "stage2", "--checkpoint", "c.pt", "--dataset", str(tmp_path), "--stage1-results", "r.pkl"]
    run = stage2_test_run(build_parser().parse_args([*argv, "--out", str(tmp_path / "o")]))
    assert Path(run.scene_dir) == produced_test


def test_explicit_scene_dirs_win(tmp_path):
    assert _preprocess_out("scene-s1", tmp_path, "--out", "X") == Path("X")
    data = Stage2DataConfig(root=str(tmp_path), scene_dir_train="A", scene_dir_test="B")
    assert (data.resolved_scene_dir_train(), data.resolved_scene_dir_test()) == ("A", "B")


def test_stats_default_is_the_official_preprocess_stats_folder(tmp_path):
    produced = _preprocess_out("stats", tmp_path)
    assert produced == tmp_path / "preprocess_stats"
