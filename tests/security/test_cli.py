"""The commands that read user-named files fail with exit code != 0 and a message naming the file; no payload runs."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from egohmr.cli.main import main
from tests.data.tiny_egobody import write_tiny_egobody
from tests.security.payloads import PAYLOADS, Call

PAYLOAD = PAYLOADS[0]  # exec; every payload is covered by the loader tests


def _evil_checkpoint(tmp_path: Path, marker: Path) -> Path:
    path = tmp_path / "best_model.pt"
    torch.save({"state_dict": {"flow.flow._transform.x": torch.zeros(2)}, "epoch": PAYLOAD.build(marker)}, path)
    return path


def _check_failed(rc: int, output: str, path: Path, marker: Path) -> None:
    assert rc != 0
    assert str(path) in output and "refusing to load" in output, output
    assert not marker.exists()


def test_eval_refuses_a_malicious_results_pickle(tmp_path, capsys):
    marker = tmp_path / "marker"
    path = tmp_path / "results_seed_0.pkl"
    path.write_bytes(pickle.dumps({"pred_betas_list": PAYLOAD.build(marker)}, protocol=2))
    rc = main(["eval", str(path), "--dataset", str(tmp_path), "--out", str(tmp_path / "out")])
    _check_failed(rc, capsys.readouterr().err, path, marker)


def test_test_stage1_refuses_a_malicious_checkpoint(tmp_path, capsys):
    marker = tmp_path / "marker"
    path = _evil_checkpoint(tmp_path, marker)
    root, scene = tmp_path / "egobody", tmp_path / "scene_s1"
    (root / "annotation_egocentric_smpl_npz").mkdir(parents=True)
    (root / "annotation_egocentric_smpl_npz" / "egocapture_test_smpl.npz").write_bytes(b"")
    scene.mkdir()
    for name in ("pcd_verts_dict_test.pkl", "map_dict_test.pkl"):
        (scene / name).write_bytes(pickle.dumps({}))
    argv = ["test", "stage1", "--checkpoint", str(path), "--dataset", str(root), "--scene-dir", str(scene)]
    rc = main([*argv, "--out", str(tmp_path / "out"), "--device", "cpu"])
    _check_failed(rc, capsys.readouterr().err, path, marker)


def test_infer_refuses_a_malicious_checkpoint(tmp_path, capsys):
    from PIL import Image

    marker = tmp_path / "marker"
    path = _evil_checkpoint(tmp_path, marker)
    Image.fromarray(np.zeros((60, 80, 3), np.uint8)).save(tmp_path / "frame.png")
    np.save(tmp_path / "scene.npy", np.random.default_rng(0).normal(size=(100, 3)))
    argv = ["infer", "--image", str(tmp_path / "frame.png"), "--scene", str(tmp_path / "scene.npy")]
    argv += ["--intrinsics", "100,100,40,30", "--bbox", "10,10,50,50", "--stage1", str(path)]
    rc = main([*argv, "--device", "cpu", "--out", str(tmp_path / "out")])
    _check_failed(rc, capsys.readouterr().err, path, marker)


@pytest.mark.parametrize("target", ["transf_matrices", "annotation_npz"])
def test_check_dataset_reports_malicious_files(tmp_path, capsys, target):
    marker = tmp_path / "marker"
    root = write_tiny_egobody(tmp_path / "egobody").root
    if target == "transf_matrices":
        path = root / "transf_matrices_all_seqs.pkl"
        path.write_bytes(pickle.dumps({"rec_a": PAYLOAD.build(marker)}, protocol=4))
    else:
        path = root / "annotation_egocentric_smpl_npz" / "egocapture_test_smpl.npz"
        names = np.empty(1, dtype=object)
        names[0] = Call(exec, f"open({str(marker)!r}, 'w').close()")
        np.savez(path, imgname=names)  # np.savez pickles object arrays
    rc = main(["check-dataset", "--dataset", str(root), "--quick"])
    _check_failed(rc, capsys.readouterr().out, path, marker)
