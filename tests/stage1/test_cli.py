"""`egohmr train stage1` and `egohmr test stage1` end to end on the tiny EgoBody, plus bad inputs."""

from __future__ import annotations

import argparse
import json
import pickle

import numpy as np
import pytest
import torch

from egohmr.body.identity import body_model_id
from egohmr.cli import test as test_cli
from egohmr.cli import train as train_cli
from egohmr.data.dataset import load_stage1_translations
from egohmr.train import NonFiniteLossError, TrainConfig, train
from tests.stage1.helpers import random_batch, tiny_model


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="egohmr")
    sub = parser.add_subparsers(dest="command")
    train_cli.register(sub)
    test_cli.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def _stages(command: str) -> set[str]:
    """Stage sub-commands of `egohmr <command>`."""
    sub = argparse.ArgumentParser(prog="egohmr").add_subparsers(dest="command")
    train_cli.register(sub)
    test_cli.register(sub)
    (stages,) = [a for a in sub.choices[command]._actions if isinstance(a, argparse._SubParsersAction)]
    return set(stages.choices)


def _tiny_overrides(tiny, s1, tmp) -> list[str]:
    return [
        f"data.root={tiny.root}",
        f"data.scene_dir={s1}",
        f"data.feature_dir={tmp / 'features'}",
        "data.val_split=test",
        f"model.body_model={tiny.body_path}",
        "model.num_scene_points=64",
        "model.scene_hidden_dim=8",
        "model.scene_feat_dim=16",
        "model.flow_hidden=32",
        "model.head_hidden=32",
        "model.num_test_samples=3",
        "train.batch_size=4",
        "train.max_steps=3",
        "train.val_every_steps=3",
        "train.ckpt_every_steps=3",
        "train.log_every_steps=1",
        "train.warmup_steps=0",
        "train.num_workers=0",
        "train.progress_bar=false",
        "train.tensorboard=false",
    ]


@pytest.fixture(scope="module")
def trained_run(tiny_egobody, s1_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stage1_run")
    argv = [
        "train",
        "stage1",
        "--config",
        "cpu",
        "--out",
        str(tmp / "run"),
        "--set",
        *_tiny_overrides(tiny_egobody, s1_dir, tmp),
    ]
    assert _run(argv) == 0
    return tmp


def test_train_cli_writes_checkpoints_and_features(trained_run):
    run = trained_run / "run"
    assert (run / "last.pt").is_file() and (run / "best.pt").is_file() and (run / "config.yaml").is_file()
    assert (trained_run / "features" / "train.npy").is_file() and (trained_run / "features" / "test.json").is_file()
    ckpt = torch.load(run / "last.pt", weights_only=True)
    assert ckpt["kind"] == "egohmr.stage1" and ckpt["step"] == 3
    assert not any(k.startswith("bodies.") for k in ckpt["model"])  # body models stay out of checkpoints


def test_test_cli_results_pkl_shape_and_order(trained_run, tiny_egobody, s1_dir, capsys):
    out = trained_run / "test"
    argv = ["test", "stage1", "--checkpoint", str(trained_run / "run" / "best.pt"), "--dataset", str(tiny_egobody.root)]
    argv += ["--scene-dir", str(s1_dir), "--out", str(out), "--body", str(tiny_egobody.body_path)]
    assert _run(argv + ["--batch-size", "2"]) == 0
    printed = capsys.readouterr().out
    assert "transl_err_mm" in printed and "mean baseline" in printed
    with (out / "results.pkl").open("rb") as fh:
        data = pickle.load(fh)
    transl = data["pred_cam_full_list"]
    assert transl.dtype == np.float32 and transl.shape == (3, 3)
    np.testing.assert_array_equal(load_stage1_translations(out / "results.pkl", 3), transl.astype(np.float64))
    preds = np.load(out / "predictions.npz")
    assert preds["pred_betas"].shape == (3, 3, 10)
    assert json.loads(str(preds["metadata_json"]))["body_model"] == body_model_id(tiny_egobody.body_path)
    np.testing.assert_array_equal(preds["pred_transl_pv"], transl)
    metrics = json.loads((out / "metrics.json").read_text())["model"]
    gt = np.load(tiny_egobody.root / "annotation_egocentric_smpl_npz" / "egocapture_test_smpl.npz")["transl_pv"]
    rms = np.sqrt(((transl.astype(np.float64) - gt) ** 2).mean(axis=0))
    np.testing.assert_allclose([metrics[f"transl_rms_{a}_mm"] for a in "xyz"], 1000.0 * rms, rtol=1e-6)
    # Row order = annotation order: frame 2 alone gives row 2.
    from egohmr.data.dataset import EgoBodyDataOptions, EgoBodyDataset
    from egohmr.stage1.checkpoint import load
    from egohmr.stage1.data import Stage1Items

    model, cfg = load(trained_run / "run" / "best.pt")
    base = EgoBodyDataset(
        EgoBodyDataOptions(root=str(tiny_egobody.root), split="test", scene_dir=str(s1_dir), num_scene_points=None)
    )
    item = Stage1Items(base, cfg.model.num_scene_points, seed=0)[2]
    batch = {k: v[None] for k, v in item.items()}
    with torch.no_grad():
        mode = model(batch, 1).transl_full_pv[0, 0].numpy()
    np.testing.assert_allclose(transl[2], mode, atol=1e-5, rtol=1e-5)


def test_missing_scene_files_named_with_command(tiny_egobody, tmp_path):
    empty = tmp_path / "no_scene"
    empty.mkdir()
    argv = ["train", "stage1", "--config", "cpu", "--out", str(tmp_path / "run"), "--set"]
    argv += _tiny_overrides(tiny_egobody, empty, tmp_path)
    with pytest.raises(FileNotFoundError, match=r"pcd_verts_dict_train\.pkl.*egohmr preprocess scene-s1"):
        _run(argv)


def test_stage2_dispatch_and_other_stage_checkpoint(trained_run, tiny_egobody, s1_dir, tmp_path):
    assert _stages("train") == _stages("test") == {"stage1", "stage2"}
    from egohmr.train.checkpoint import build_checkpoint, save_checkpoint

    other = tmp_path / "stage2.pt"
    save_checkpoint(build_checkpoint(kind="egohmr.stage2", model_state={}, step=1, config={}), other)
    argv = ["test", "stage1", "--checkpoint", str(other), "--dataset", str(tiny_egobody.root)]
    argv += ["--scene-dir", str(s1_dir), "--out", str(tmp_path / "t")]
    with pytest.raises(ValueError, match="other stage"):
        _run(argv)


def test_nan_batch_stops_with_step_and_batch_named(tmp_path):
    batch = random_batch(8)
    items = [{k: v[i] for k, v in batch.items()} for i in range(8)]
    for item in items:
        item["scene_points_pv"][0, 0] = float("nan")
    cfg = TrainConfig(
        max_steps=2,
        batch_size=4,
        num_workers=0,
        out_dir=tmp_path / "run",
        progress_bar=False,
        tensorboard=False,
        device="cpu",
    )
    model = tiny_model()
    with torch.no_grad():  # ActNorm would be initialised from NaN contexts: initialise on a clean batch first
        model.on_train_start(random_batch(4))
    with pytest.raises(NonFiniteLossError, match=r"step 1.*batch 0.*scene_points_pv"):
        train(model, items, None, cfg, kind="egohmr.stage1")
    assert not (tmp_path / "run" / "last.pt").exists()


def test_results_pkl_feeds_stage2_test_preprocessing(trained_run, tiny_egobody, tmp_path):
    from egohmr.preprocess.scene_s2 import SceneS2Options, run_scene_s2

    results = trained_run / "test" / "results.pkl"
    if not results.is_file():
        pytest.skip("needs test_test_cli_results_pkl_shape_and_order to have written results.pkl")
    out = tmp_path / "s2"
    run_scene_s2(
        SceneS2Options(
            root=str(tiny_egobody.root),
            split="test",
            out_root=str(out),
            mode="test",
            stage1_results=str(results),
            num_points=50,
            allow_replacement=True,
        ),
        progress=False,
    )
    assert len(list(out.rglob("*.npy"))) == 3
