"""`egohmr test stage1/stage2`: a changed checkpoint, stage-1 results or setting is refused by name; --overwrite
recomputes; a folder of another program is refused."""

from __future__ import annotations

import argparse
import shutil

import numpy as np
import pytest
import torch

from egohmr.cli import test as test_cli
from egohmr.config import config_to_dict
from egohmr.jobs import StaleOutputError
from egohmr.train.checkpoint import build_checkpoint, save_checkpoint
from tests.data.conftest import s1_dir  # noqa: F401  (session fixture)
from tests.stage2.test_cli import setup  # noqa: F401  (module fixture: tiny stage-2 checkpoint, cubes, results)


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="egohmr")
    test_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def _perturbed_copy(src, dst, scale: float) -> None:
    """`dst`: the checkpoint `src` with every floating model weight multiplied by `scale`."""
    ckpt = torch.load(src, weights_only=False)
    ckpt["model"] = {k: v * scale if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    torch.save(ckpt, dst)


def _stage2_argv(common: list[str], ckpt, out) -> list[str]:
    i = common.index("--checkpoint")
    argv = [*common[:i], "--checkpoint", str(ckpt), *common[i + 2 :]]
    return ["test", "stage2", *argv, "--out", str(out), "--no-collision"]


def _stage2_poses(out) -> np.ndarray:
    with np.load(out / "results.npz") as data:
        return data["pred_body_pose_rotmat"]


def test_stage2_refuses_a_changed_checkpoint_and_overwrite_recomputes(setup, tmp_path):  # noqa: F811
    tmp, common, _ = setup
    ckpt, out = tmp_path / "model.pt", tmp_path / "out"
    shutil.copy(tmp / "model.pt", ckpt)
    assert _run(_stage2_argv(common, ckpt, out)) == 0
    first = _stage2_poses(out)
    _perturbed_copy(tmp / "model.pt", ckpt, 1.5)
    with pytest.raises(StaleOutputError, match=r"input checkpoint: 'sha256:"):
        _run(_stage2_argv(common, ckpt, out))
    assert _run(_stage2_argv(common, ckpt, out) + ["--overwrite"]) == 0
    assert not np.allclose(_stage2_poses(out), first)


@pytest.mark.parametrize(
    ("flags", "changed"), [(["--eta", "0.5"], r"parameter eta: 0.0 -> 0.5"), (["--steps", "4"], r"parameter spacing")]
)
def test_stage2_refuses_changed_sampling_settings(setup, tmp_path, flags, changed):  # noqa: F811
    """Every sampling setting that changes the samples is part of the manifest, so a resumed run cannot mix them."""
    tmp, common, _ = setup
    out = tmp_path / "out"
    assert _run(_stage2_argv(common, tmp / "model.pt", out)) == 0
    with pytest.raises(StaleOutputError, match=changed):
        _run(_stage2_argv(common, tmp / "model.pt", out) + flags)


def test_stage2_refuses_outputs_of_an_older_random_stream_scheme(setup, tmp_path):  # noqa: F811
    """Outputs written before the per-frame random streams changed (a manifest without, or with another, version)
    are not resumed: the samples would mix two noise schemes."""
    import json

    from egohmr.jobs import MANIFEST_PREFIX

    tmp, common, _ = setup
    out = tmp_path / "out"
    assert _run(_stage2_argv(common, tmp / "model.pt", out)) == 0
    (manifest,) = out.glob(MANIFEST_PREFIX + "*.json")
    data = json.loads(manifest.read_text())
    del data["parameters"]["random_streams"]
    manifest.write_text(json.dumps(data))
    with pytest.raises(StaleOutputError, match=r"parameter random_streams: '<absent>' -> 'frame-stem-v"):
        _run(_stage2_argv(common, tmp / "model.pt", out))


def test_stage2_refuses_changed_stage1_results(setup, tmp_path):  # noqa: F811
    tmp, common, _ = setup
    results = tmp_path / "stage1_results.pkl"
    shutil.copy(tmp / "stage1_results.pkl", results)
    i = common.index("--stage1-results")
    argv = [*common[:i], "--stage1-results", str(results), *common[i + 2 :]]
    out = tmp_path / "out"
    assert _run(["test", "stage2", *argv, "--out", str(out), "--no-collision"]) == 0
    results.write_bytes(results.read_bytes() + b"\n")  # another file (pickle ignores the trailing byte)
    with pytest.raises(StaleOutputError, match=r"input stage1_results: 'sha256:"):
        _run(["test", "stage2", *argv, "--out", str(out), "--no-collision"])


def test_stage2_refuses_a_foreign_folder(setup, tmp_path):  # noqa: F811
    tmp, common, _ = setup
    (tmp_path / "paper.tex").write_text("\\section{}")
    with pytest.raises(StaleOutputError, match="paper.tex"):
        _run(_stage2_argv(common, tmp / "model.pt", tmp_path))


@pytest.fixture
def stage1_checkpoint(tiny_egobody, tmp_path):  # noqa: F811
    from egohmr.stage1.config import CHECKPOINT_KIND, Stage1Config
    from egohmr.stage1.model import ProHMRScene
    from tests.stage1.helpers import tiny_model_config

    cfg = Stage1Config(model=tiny_model_config(body_model=str(tiny_egobody.body_path)))
    torch.manual_seed(0)
    state = ProHMRScene(cfg.model).state_dict()
    path = tmp_path / "stage1.pt"
    save_checkpoint(build_checkpoint(kind=CHECKPOINT_KIND, model_state=state, step=0, config=config_to_dict(cfg)), path)
    return path


def _stage1_argv(ckpt, tiny, s1, out, *extra) -> list[str]:
    argv = ["test", "stage1", "--checkpoint", str(ckpt), "--dataset", str(tiny.root), "--scene-dir", str(s1)]
    return [*argv, "--out", str(out), "--no-baseline", "--num-samples", "2", "--batch-size", "3", *extra]


def test_stage1_refuses_changed_checkpoint_and_settings(stage1_checkpoint, tiny_egobody, s1_dir, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    assert _run(_stage1_argv(stage1_checkpoint, tiny_egobody, s1_dir, out)) == 0
    first = (out / "results.pkl").read_bytes()
    assert _run(_stage1_argv(stage1_checkpoint, tiny_egobody, s1_dir, out)) == 0  # same run: allowed
    with pytest.raises(StaleOutputError, match=r"parameter seed: 0 -> 1"):
        _run(_stage1_argv(stage1_checkpoint, tiny_egobody, s1_dir, out, "--seed", "1"))
    _perturbed_copy(stage1_checkpoint, stage1_checkpoint, 1.2)
    with pytest.raises(StaleOutputError, match=r"input checkpoint: 'sha256:"):
        _run(_stage1_argv(stage1_checkpoint, tiny_egobody, s1_dir, out))
    assert _run(_stage1_argv(stage1_checkpoint, tiny_egobody, s1_dir, out, "--overwrite")) == 0
    assert (out / "results.pkl").read_bytes() != first
