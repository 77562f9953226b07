"""End-to-end `egohmr eval` on a tiny hand-built dataset folder."""

from __future__ import annotations

import argparse
import csv
import json
import math
import pickle

import numpy as np
import pytest
import torch

from egohmr.body.identity import body_model_id
from egohmr.cli import eval as eval_cli
from egohmr.evaluate.results_io import PredictionResults, write_results
from tests.evaluate.helpers import write_annotation, write_tiny_body

NUM_FRAMES = 4
NUM_SAMPLES = 3


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="egohmr")
    sub = parser.add_subparsers(dest="command")
    eval_cli.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def gt_as_results(fields: dict[str, np.ndarray], num_samples: int) -> PredictionResults:
    """Predictions equal to the GT parameters (every sample the same)."""
    from egohmr.geometry.rotations import axis_angle_to_rotmat

    go = axis_angle_to_rotmat(torch.as_tensor(fields["global_orient_pv"])).numpy()  # (N, 3, 3)
    pose = axis_angle_to_rotmat(torch.as_tensor(fields["pose"]).reshape(-1, 23, 3)).numpy()  # (N, 23, 3, 3)
    rep = lambda a: np.repeat(a[:, None], num_samples, axis=1).astype(np.float32)  # noqa: E731
    return PredictionResults(
        pred_betas=rep(fields["shape"]),
        pred_global_orient_rotmat=rep(go),
        pred_body_pose_rotmat=rep(pose),
        pred_transl_pv=fields["transl_pv"].astype(np.float32),
        imgname=fields["imgname"],
    )


@pytest.fixture()
def dataset(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "egobody"
    fields = write_annotation(root / "annotation_egocentric_smpl_npz" / "egocapture_test_smpl.npz", rng, NUM_FRAMES)
    return root, fields


def test_perfect_predictions_give_zero_error(tmp_path, dataset):
    root, fields = dataset
    body = write_tiny_body(tmp_path / "tiny_body.npz", np.random.default_rng(1))
    results = tmp_path / "results.npz"
    write_results(results, gt_as_results(fields, NUM_SAMPLES))
    out = tmp_path / "out"
    code = run_cli(["eval", str(results), "--dataset", str(root), "--body", str(body), "--out", str(out)])
    assert code == 0
    doc = json.loads((out / "metrics.json").read_text())
    m = doc["metrics"]
    for key in ("g_mpjpe_mm", "mpjpe_mm", "pa_mpjpe_mm", "v2v_mm", "g_v2v_mm", "pa_v2v_mm", "mpjpe_vis_mm"):
        assert m[key] == pytest.approx(0.0, abs=1e-3), key
    assert m["std_joints_mm"] == pytest.approx(0.0, abs=1e-6)
    assert m["collision_ratio"] is None  # no --scene-dir: not evaluated (NaN -> null)
    s = doc["settings"]
    assert s["mode"] == "corrected" and s["num_samples"] == NUM_SAMPLES and s["results_format"] == "ours"
    assert s["collision_contact_evaluated"] is False and s["date"]
    # Frame 0 is truncated (body pushed to the image border).
    with (out / "per_frame.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == NUM_FRAMES and rows[0]["imgname"] == fields["imgname"][0]
    assert 0.0 < float(rows[0]["truncation"]) < 1.0
    assert all(float(r["truncation"]) == 0.0 for r in rows[1:])
    for name in ("metrics.md", "per_joint_errors.png", "error_vs_truncation.png", "diversity_vs_visibility.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "per_joint_errors.png").read_bytes()[:4] == b"\x89PNG"


def _scene_setup(root, fields, scene_dir):
    """Identity scene -> PV chain (world2pv = ADD_TRANS undoes ADD_TRANS) and one cube per frame."""
    from egohmr.data import egobody_format as ef

    keys = [ef.parse_imgname(n) for n in fields["imgname"]]
    rec = keys[0].recording
    ef.write_transf_matrices(
        ef.transf_matrices_path(root),
        {rec: ef.RecordingTransforms(kinect2holo=np.eye(4), world2pv={k.timestamp: ef.ADD_TRANS for k in keys})},
    )
    ef.write_data_info(ef.data_info_path(root), [{"recording_name": rec, "scene_name": "room"}])
    ef.write_kinect2scene(ef.kinect2scene_path(root, rec, "room"), np.eye(4))
    for name, key, transl in zip(fields["imgname"], keys, fields["transl_pv"], strict=True):
        path = scene_dir / "test" / key.recording / key.holo_time / (name.rsplit("/", 1)[1][:-4] + ".npy")
        path.parent.mkdir(parents=True, exist_ok=True)
        far = transl + np.array([[5.0, 5.0, 5.0]]) + np.arange(30)[:, None] * 0.01
        np.save(path, np.concatenate([np.tile(transl, (10, 1)), far]))  # 10 points at the translation


def test_official_pickle_with_scene_dir_and_modes(tmp_path, dataset):
    root, fields = dataset
    body_dir = tmp_path / "smpl"
    for i, gender in enumerate(("NEUTRAL", "MALE", "FEMALE")):
        write_tiny_body(body_dir / f"SMPL_{gender}.npz", np.random.default_rng(10 + i))
    pred = gt_as_results(fields, NUM_SAMPLES)
    rng = np.random.default_rng(2)
    pred.pred_betas += rng.normal(size=pred.pred_betas.shape).astype(np.float32)
    pred.pred_transl_pv += np.float32(0.05)
    official = {
        "pred_betas_list": pred.pred_betas,
        "pred_global_orient_list": pred.pred_global_orient_rotmat[:, :, None],
        "pred_body_pose_list": pred.pred_body_pose_rotmat,
        "collision_ratio_list": np.full((NUM_FRAMES, NUM_SAMPLES), 0.001),
        "contact_ratio_list": np.ones((NUM_FRAMES, NUM_SAMPLES)),
        "pred_cam_full_list": pred.pred_transl_pv,
        "gt_cam_full_list": fields["transl_pv"].astype(np.float32),
    }
    results = tmp_path / "output_egohmr_1" / "results_seed_0.pkl"
    results.parent.mkdir()
    results.write_bytes(pickle.dumps(official, protocol=2))
    scene_dir = tmp_path / "cubes"
    _scene_setup(root, fields, scene_dir)
    docs = {}
    for mode in ("corrected", "official"):
        out = tmp_path / f"out_{mode}"
        argv = ["eval", str(results), "--dataset", str(root), "--body", str(body_dir), "--mode", mode]
        argv += ["--scene-dir", str(scene_dir), "--inside-test", "exact", "--out", str(out), "--no-plots"]
        assert run_cli(argv) == 0
        docs[mode] = json.loads((out / "metrics.json").read_text())
        assert not (out / "per_joint_errors.png").exists()
    cor, off = docs["corrected"]["metrics"], docs["official"]["metrics"]
    assert docs["official"]["settings"]["results_format"] == "official_stage2"
    assert cor["mpjpe_mm"] > 1.0 and math.isfinite(cor["pa_mpjpe_mm"])
    assert cor["mpjpe_mm"] == pytest.approx(off["mpjpe_mm"])  # same definition in both modes
    assert off["apd_joints_mm"] == pytest.approx(cor["apd_joints_mm"] / 2)
    # The 10 points at the translation are inside the (ellipsoid) body of every sample; the 30 others far away.
    assert cor["collision_ratio"] == pytest.approx(10 / 40)
    assert cor["contact_ratio"] in (0.0, 1.0) and off["contact_ratio"] >= cor["contact_ratio"]
    assert math.isfinite(off["pa_mpjpe_mm"])
    assert cor["stored_collision_ratio"] == pytest.approx(0.001)


def test_missing_annotation_is_a_clear_error(tmp_path):
    results = tmp_path / "r.npz"
    write_results(results, gt_as_results(write_annotation(tmp_path / "a.npz", np.random.default_rng(0), 2), 1))
    with pytest.raises(FileNotFoundError, match="egocapture_test_smpl.npz"):
        run_cli(["eval", str(results), "--dataset", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])


def test_frame_count_mismatch(tmp_path, dataset):
    root, fields = dataset
    body = write_tiny_body(tmp_path / "b.npz", np.random.default_rng(1))
    short = {k: v[:2] for k, v in fields.items()}
    results = tmp_path / "r.npz"
    write_results(results, gt_as_results(short, 1))
    with pytest.raises(ValueError, match="2 frames but the annotation file has 4"):
        run_cli(["eval", str(results), "--dataset", str(root), "--body", str(body), "--out", str(tmp_path / "o")])


def test_results_of_every_split_are_read_as_the_demo_writes_them(tmp_path, dataset):
    """The demo predicts every frame of every split (train, val, test order) into one results.npz."""
    root, test_fields = dataset
    train_fields = write_annotation(
        root / "annotation_egocentric_smpl_npz" / "egocapture_train_smpl.npz", np.random.default_rng(5), 2
    )
    every = {k: np.concatenate([train_fields[k], test_fields[k]]) for k in test_fields}
    body = write_tiny_body(tmp_path / "b.npz", np.random.default_rng(1))
    results = tmp_path / "results.npz"
    write_results(results, gt_as_results(every, 2))
    for extra in ([], ["--split", "all"]):
        out = tmp_path / f"out{len(extra)}"
        assert (
            run_cli(["eval", str(results), "--dataset", str(root), "--body", str(body), "--out", str(out), *extra]) == 0
        )
        report = json.loads((out / "metrics.json").read_text())
        assert report["settings"]["split"] == "all" and report["metrics"]["mpjpe_mm"] < 1e-3
    with pytest.raises(ValueError, match="6 frames but the annotation file has 4"):
        run_cli(
            ["eval", str(results), "--dataset", str(root), "--body", str(body), "--split", "test", "--out", str(out)]
        )


def _results_recorded_with(tmp_path, fields, source) -> str:
    results = gt_as_results(fields, NUM_SAMPLES)
    results.metadata["body_model"] = body_model_id(source)
    path = tmp_path / f"results_{source}.npz"
    write_results(path, results)
    return str(path)


def test_results_of_another_body_model_refused_unless_allowed(tmp_path, dataset):
    root, fields = dataset
    results = _results_recorded_with(tmp_path, fields, "open")
    argv = ["eval", results, "--dataset", str(root), "--body", "open-lowres", "--no-plots"]
    with pytest.raises(ValueError, match=r"'open'.*'open-lowres'.*--allow-body-mismatch"):
        run_cli([*argv, "--out", str(tmp_path / "refused")])
    assert not (tmp_path / "refused" / "metrics.json").exists()
    assert run_cli([*argv, "--allow-body-mismatch", "--out", str(tmp_path / "allowed")]) == 0
    settings = json.loads((tmp_path / "allowed" / "metrics.json").read_text())["settings"]
    assert settings["body_model"] == body_model_id("open-lowres")


def test_results_of_the_same_body_model_or_without_record_accepted(tmp_path, dataset, caplog):
    root, fields = dataset
    recorded = _results_recorded_with(tmp_path, fields, "open-lowres")
    argv = ["--dataset", str(root), "--body", "open-lowres", "--no-plots"]
    assert run_cli(["eval", recorded, *argv, "--out", str(tmp_path / "same")]) == 0
    unrecorded = tmp_path / "unrecorded.npz"
    write_results(unrecorded, gt_as_results(fields, NUM_SAMPLES))
    with caplog.at_level("INFO", logger="egohmr.evaluate.pipeline"):
        assert run_cli(["eval", str(unrecorded), *argv, "--out", str(tmp_path / "unrecorded")]) == 0
    assert "records no body model" in caplog.text
