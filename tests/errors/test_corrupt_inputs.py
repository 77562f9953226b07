"""Every corrupt input gives a sentence naming the file and field or frame, not a traceback."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from egohmr.evaluate import results_io
from egohmr.evaluate.results_io import PredictionResults, read_results, write_results


def _results(n: int = 3) -> PredictionResults:
    eye = np.eye(3, dtype=np.float32)
    return PredictionResults(
        pred_betas=np.zeros((n, 2, 10), np.float32),
        pred_global_orient_rotmat=np.tile(eye, (n, 2, 1, 1)),
        pred_body_pose_rotmat=np.tile(eye, (n, 2, 23, 1, 1)),
        pred_transl_pv=np.zeros((n, 3), np.float32),
        imgname=np.array([f"frame_{i}.jpg" for i in range(n)]),
    )


def test_truncated_results_npz(tmp_path):
    path = tmp_path / "results.npz"
    write_results(path, _results())
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"results\.npz: not a readable npz results file"):
        read_results(path)


def test_nan_in_results_names_the_frame(tmp_path):
    results = _results()
    results.pred_transl_pv[2, 0] = np.nan
    write_results(tmp_path / "r.npz", results)
    with pytest.raises(ValueError, match=r"r\.npz: key 'pred_transl_pv' has NaN/inf .* row 2 \(frame_2\.jpg\)"):
        read_results(tmp_path / "r.npz")


@pytest.mark.parametrize("matrix", [np.diag([1.0, 1.0, -1.0]), 2 * np.eye(3)], ids=["reflection", "scaled"])
def test_results_rotations_must_be_rotations(tmp_path, matrix):
    results = _results()
    results.pred_body_pose_rotmat[1, 0, 5] = matrix
    write_results(tmp_path / "r.npz", results)
    with pytest.raises(ValueError, match=r"'pred_body_pose_rotmat' holds matrices that are not rotations .* row 1"):
        read_results(tmp_path / "r.npz")


def test_official_pickle_nan_names_the_row(tmp_path):
    results = _results()
    results.pred_betas[0, 1, 3] = np.inf
    results.imgname = None
    results_io.write_official_stage2(tmp_path / "results_seed_0.pkl", results)
    with pytest.raises(ValueError, match=r"results_seed_0\.pkl: key 'pred_betas' has NaN/inf .* frame row 0$"):
        results_io.read_official_stage2(tmp_path / "results_seed_0.pkl")


def test_evaluate_cli_reports_bad_results(tmp_path, capsys):
    """The loader's ValueError reaches the user as one line and a non-zero exit code."""
    from egohmr.cli.main import main

    results = _results()
    results.pred_global_orient_rotmat[0, 0] = np.nan
    write_results(tmp_path / "r.npz", results)
    rc = main(["eval", str(tmp_path / "r.npz"), "--dataset", str(tmp_path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc != 0 and "r.npz: key 'pred_global_orient_rotmat' has NaN/inf" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "content",
    [b"", b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nend_header\n1 2\n"],
    ids=["empty", "missing-properties"],
)
def test_malformed_ply_scene(tmp_path, content):
    from egohmr.pipeline.core import load_scene_points
    from egohmr.recordings.scene import load_scene

    path = tmp_path / "room.ply"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"room\.ply"):
        load_scene_points(path)
    with pytest.raises(ValueError, match=r"room\.ply"):
        load_scene(path, np.random.default_rng(0))


def test_cuda_on_cpu_only_torch(monkeypatch):
    from egohmr.train.distributed import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"'cuda' but CUDA is not available"):
        resolve_device("cuda")


def test_view_prints_the_port_it_bound(tmp_path, monkeypatch, capsys):
    """viser takes the next free port when --port is busy; the printed URL is the one it bound."""
    from egohmr.cli import view
    from egohmr.cli.main import main
    from egohmr.outputs.frame_record import save_frame_record
    from tests.outputs.helpers import make_record
    from tests.outputs.test_view import FakeServer

    save_frame_record(tmp_path / "frames" / "0000.npz", make_record(num_samples=1, with_gt=False, seed=0, name="f0"))

    class BusyPortServer(FakeServer):
        def __init__(self, host, port, verbose):
            super().__init__()
            self.port = port + 1

        def get_port(self):
            return self.port

        def stop(self):
            pass

    monkeypatch.setattr(view, "_import_viser", lambda: types.SimpleNamespace(ViserServer=BusyPortServer))
    monkeypatch.setattr(view.time, "sleep", lambda s: (_ for _ in ()).throw(KeyboardInterrupt))
    assert main(["view", str(tmp_path), "--port", "8080"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8081 (port 8080 was busy)" in out
    assert sys.modules["egohmr.cli.view"] is view


def test_training_with_an_empty_validation_split_says_so(tmp_path):
    from egohmr.train import train
    from tests.train.toy import ToyMLP, ToyRegression, toy_config

    with pytest.raises(ValueError, match="validation split has no frames"):
        train(ToyMLP(), ToyRegression(), ToyRegression(n=0), toy_config(tmp_path / "run", 4), kind="toy")
    assert not (tmp_path / "run" / "last.pt").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"GIF89a not really", "not a readable image"), (None, "decompression bomb")],
)
def test_unreadable_images_get_a_sentence_naming_the_file(tmp_path, monkeypatch, content, message):
    from PIL import Image

    from egohmr.data.images import read_rgb

    path = tmp_path / "frame.jpg"
    if content is None:
        Image.new("RGB", (64, 64)).save(path)
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 4,096 px > 2 x 100: PIL's bomb error
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as err:
        read_rgb(path, "frame 'x'")
    assert str(path) in str(err.value) and "frame 'x'" in str(err.value)
