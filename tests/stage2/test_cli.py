"""`egohmr test stage2` end to end on the tiny EgoBody: results files, resume from chunks, sharding, translation."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from egohmr.body.identity import body_model_id
from egohmr.cli import test as test_cli
from egohmr.config import config_to_dict
from egohmr.data.egobody_format import annotation_path
from egohmr.evaluate.ground_truth import load_annotations
from egohmr.stage2.model import CHECKPOINT_KIND
from egohmr.train.checkpoint import build_checkpoint, save_checkpoint
from tests.data.conftest import tiny_egobody  # noqa: F401  (session fixture)
from tests.stage2.helpers import tiny_config, tiny_model

NUM_TEST_FRAMES = 3
THROUGHPUT_FIELDS = (
    "images_per_second_sampling",
    "images_per_second_end_to_end",
    "peak_memory_gb",
    "images_per_batch",
    "seconds_per_image",
)
STAGE1_OFFSET_M = np.array([0.1, 0.0, -0.2])
CUBE_POINTS = 200


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="egohmr")
    test_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def setup(tiny_egobody, tmp_path_factory):  # noqa: F811
    """A tiny stage-2 checkpoint, stage-1 results (GT translation + a known offset) and their test cubes."""
    from egohmr.preprocess.scene_s2 import SceneS2Options, run_scene_s2

    tmp = tmp_path_factory.mktemp("stage2_cli")
    cfg = tiny_config()
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, num_scene_points_file=CUBE_POINTS))
    ckpt = build_checkpoint(
        kind=CHECKPOINT_KIND, model_state=tiny_model(cfg).state_dict(), step=0, config=config_to_dict(cfg)
    )
    save_checkpoint(ckpt, tmp / "model.pt")
    gt_transl = load_annotations(annotation_path(tiny_egobody.root, "test")).transl_pv
    assert gt_transl.shape == (NUM_TEST_FRAMES, 3)
    with (tmp / "stage1_results.pkl").open("wb") as fh:
        pickle.dump({"pred_cam_full_list": (gt_transl + STAGE1_OFFSET_M).astype(np.float32)}, fh)
    options = SceneS2Options(
        root=str(tiny_egobody.root),
        split="test",
        out_root=str(tmp / "s2_test"),
        mode="test",
        stage1_results=str(tmp / "stage1_results.pkl"),
        num_points=CUBE_POINTS,
        allow_replacement=True,
    )
    run_scene_s2(options, progress=False)
    common = ["--checkpoint", str(tmp / "model.pt"), "--dataset", str(tiny_egobody.root)]
    common += ["--scene-dir", str(tmp / "s2_test"), "--stage1-results", str(tmp / "stage1_results.pkl")]
    common += ["--body", str(tiny_egobody.body_path), "--num-samples", "2", "--sampler", "ddim", "--steps", "2"]
    common += ["--chunk-size", "1", "--batch-size", "2", "--device", "cpu"]
    return tmp, common, gt_transl


def _results(out: Path) -> dict[str, np.ndarray]:
    with np.load(out / "results.npz") as data:
        return {k: data[k] for k in data.files}


def test_results_files_and_resume_from_finished_chunks(setup):
    tmp, common, gt_transl = setup
    out = tmp / "run"
    assert _run(["test", "stage2", *common, "--out", str(out)]) == 0
    first = _results(out)
    assert first["pred_body_pose_rotmat"].shape == (NUM_TEST_FRAMES, 2, 23, 3, 3)
    np.testing.assert_allclose(first["pred_transl_pv"], gt_transl + STAGE1_OFFSET_M, atol=1e-6)
    assert json.loads(str(first["metadata_json"]))["body_model"] == body_model_id(common[common.index("--body") + 1])
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"mpjpe_vis_mm", "min_mpjpe_invis_mm", "collision_ratio", "seconds_per_image"} <= set(metrics["metrics"])
    speed = {k: metrics["metrics"][k] for k in THROUGHPUT_FIELDS}
    assert all(value is not None and value > 0 for value in speed.values()), speed
    assert speed["images_per_batch"] == 1  # --batch-size 2, but a batch never spans two chunks of 1 frame
    assert f"results `{out / 'results.npz'}`" in (out / "metrics.md").read_text()
    with (out / "results_seed_0.pkl").open("rb") as fh:
        official = pickle.load(fh)
    assert len(official["pred_betas_list"]) == NUM_TEST_FRAMES
    # A killed run: chunk 1 never finished, the merged outputs are gone. Re-running recomputes only chunk 1.
    chunk0 = out / "chunks" / "chunk_00000.pt"
    stamp = chunk0.stat().st_mtime_ns
    (out / "chunks" / "chunk_00001.pt").unlink()
    (out / "results.npz").unlink()
    assert _run(["test", "stage2", *common, "--out", str(out)]) == 0
    assert chunk0.stat().st_mtime_ns == stamp
    for key, value in _results(out).items():
        np.testing.assert_array_equal(value, first[key], err_msg=key)


def test_other_settings_in_the_same_folder_are_refused(setup):
    tmp, common, _ = setup
    out = tmp / "mixed"
    assert _run(["test", "stage2", *common, "--out", str(out), "--no-collision"]) == 0
    with pytest.raises(ValueError, match="other settings"):
        _run(["test", "stage2", *common, "--out", str(out), "--no-collision", "--seed", "1"])


def test_a_memory_cap_picks_the_batch_and_a_cap_below_one_image_is_refused(setup, capsys):
    tmp, common, _ = setup
    out = tmp / "capped"
    argv = ["test", "stage2", *common, "--chunk-size", "3", "--no-collision", "--out", str(out)]
    assert _run([*argv, "--max-memory-gb", "50"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["metrics"]["images_per_batch"] == NUM_TEST_FRAMES  # > --batch-size 2: the cap decides
    assert "images/s sampling" in capsys.readouterr().out
    with pytest.raises(ValueError, match="test.max_memory_gb=1e-06 is below what one image needs"):
        _run([*argv, "--max-memory-gb", "1e-6", "--overwrite"])


def test_samples_do_not_depend_on_the_batch_or_the_chunks(setup):
    """Every frame's noise comes from its own stream: 3 frames in one batch and chunk give each frame the samples it
    gets alone (to float32 rounding of the batched matrix products)."""
    tmp, common, _ = setup
    runs = {}
    for images in (1, 3):
        out = tmp / f"batch{images}"
        argv = ["test", "stage2", *common, "--chunk-size", str(images), "--batch-size", str(images)]
        assert _run([*argv, "--no-collision", "--out", str(out)]) == 0
        runs[images] = _results(out)
    for key in ("pred_betas", "pred_global_orient_rotmat", "pred_body_pose_rotmat"):
        np.testing.assert_allclose(runs[3][key], runs[1][key], atol=1e-5, err_msg=key)
    assert not np.allclose(runs[1]["pred_body_pose_rotmat"][0], runs[1]["pred_body_pose_rotmat"][1], atol=1e-3)


def test_gt_translation_places_and_conditions_the_bodies(setup):
    tmp, common, gt_transl = setup
    out = tmp / "gt"
    assert _run(["test", "stage2", *common, "--out", str(out), "--translation", "gt", "--no-collision"]) == 0
    gt = _results(out)
    np.testing.assert_allclose(gt["pred_transl_pv"], gt_transl, atol=1e-6)
    stage1 = tmp / "stage1_for_gt"
    assert _run(["test", "stage2", *common, "--out", str(stage1), "--no-collision"]) == 0
    assert not np.allclose(gt["pred_body_pose_rotmat"], _results(stage1)["pred_body_pose_rotmat"])


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not built")
def test_torchrun_shards_give_the_single_process_results(setup):
    tmp, common, _ = setup
    single, sharded = tmp / "single", tmp / "sharded"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun process below: float sums then match bit for bit
    try:
        assert _run(["test", "stage2", *common, "--out", str(single), "--no-collision"]) == 0
    finally:
        torch.set_num_threads(threads)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29561"]
    cmd += ["-m", "egohmr.cli.main", "test", "stage2", *common, "--out", str(sharded), "--no-collision"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    logs = done.stderr + done.stdout
    assert "rank 0: chunk 0" in logs and "rank 1: chunk 1" in logs and "rank 0: chunk 2" in logs
    for key, value in _results(sharded).items():
        np.testing.assert_array_equal(value, _results(single)[key], err_msg=key)
