"""Scene preprocessing and pose statistics: a changed input or parameter is refused by name; --overwrite recomputes."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from egohmr.data import egobody_format as ebf
from egohmr.data.stats import load_pose_stats, pose_stats_job
from egohmr.files import TEMP_SUFFIX
from egohmr.jobs import FolderLockedError, StaleOutputError, folder_lock
from egohmr.preprocess.scene_s1 import SceneS1Options, run_scene_s1
from egohmr.preprocess.scene_s2 import SceneS2Options, run_scene_s2
from tests.jobs.conftest import nudge_annotation

S1_POINTS = 200
S2_POINTS = 150


def _s1(tiny, out, **changes):
    opt = dict(root=str(tiny.root), split="test", out_dir=str(out), num_points=S1_POINTS, every=2)
    return run_scene_s1(SceneS1Options(**(opt | changes)), progress=False)


def _pcd(res) -> dict:
    return pickle.loads(res.pcd_path.read_bytes())


def test_s1_refuses_changed_parameters_and_annotations(own_egobody, tmp_path):
    out = tmp_path / "s1"
    first = _s1(own_egobody, out)
    assert first.num_computed > 0
    assert _s1(own_egobody, out).num_computed == 0  # same manifest: reused
    with pytest.raises(StaleOutputError, match=r"parameter num_points: 200 -> 100"):
        _s1(own_egobody, out, num_points=100)
    with pytest.raises(StaleOutputError, match=r"parameter seed: 0 -> 1"):
        _s1(own_egobody, out, seed=1)
    redone = _s1(own_egobody, out, num_points=100, overwrite=True)
    assert redone.num_computed == first.num_computed
    assert {v.shape for v in _pcd(redone).values()} == {(100, 3)}
    nudge_annotation(own_egobody.root, "test")
    with pytest.raises(StaleOutputError, match=r"input annotations: 'sha256:"):
        _s1(own_egobody, out, num_points=100)


def test_s1_refuses_a_changed_scene_mesh(own_egobody, tmp_path):
    out = tmp_path / "s1"
    _s1(own_egobody, out)
    scene = ebf.recording_to_scene(ebf.data_info_path(own_egobody.root))["rec_c"]
    mesh = ebf.scene_mesh_path(own_egobody.root, scene)
    mesh.write_text(mesh.read_text() + "v 0 0 0\n")
    with pytest.raises(StaleOutputError, match=rf"input scene_mesh/{scene}"):
        _s1(own_egobody, out)


def test_s1_splits_share_a_folder(own_egobody, tmp_path):
    out = tmp_path / "s1"
    _s1(own_egobody, out)
    assert _s1(own_egobody, out, split="train", num_points=100).num_computed > 0
    assert _s1(own_egobody, out).num_computed == 0


def test_s1_foreign_folder_lock_and_leftover_temporaries(own_egobody, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.pdf").write_bytes(b"%PDF")
    with pytest.raises(StaleOutputError, match="thesis.pdf"):
        _s1(own_egobody, foreign)
    out = tmp_path / "s1"
    with folder_lock(out), pytest.raises(FolderLockedError, match=str(out)):
        _s1(own_egobody, out)
    leftover = out / f".pcd_verts_dict_test.pkl.x1y2{TEMP_SUFFIX}"
    leftover.write_bytes(b"half a pickle")
    _s1(own_egobody, out)
    assert not leftover.exists()


def _s2_test(tiny, out, results, **changes):
    opt = dict(root=str(tiny.root), split="test", out_root=str(out), mode="test", stage1_results=str(results))
    return run_scene_s2(SceneS2Options(**(opt | {"num_points": S2_POINTS, "allow_replacement": True} | changes)), False)


def _write_stage1(path, tiny, offset):
    transl = ebf.read_annotation_npz(ebf.annotation_path(tiny.root, "test"))["transl_pv"] + offset
    path.write_bytes(pickle.dumps({"pred_cam_full_list": transl.astype(np.float32)}))


def _cubes(out) -> list[np.ndarray]:
    return [np.load(p) for p in sorted((out / "test").rglob("*.npy"))]


def test_s2_test_refuses_other_stage1_results_and_overwrite_recomputes(own_egobody, tmp_path):
    out, results = tmp_path / "s2", tmp_path / "results.pkl"
    _write_stage1(results, own_egobody, 0.0)
    assert _s2_test(own_egobody, out, results).num_computed == 3
    before = _cubes(out)
    assert _s2_test(own_egobody, out, results).num_computed == 0
    _write_stage1(results, own_egobody, 0.5)
    with pytest.raises(StaleOutputError, match=r"input stage1_results: 'sha256:"):
        _s2_test(own_egobody, out, results)
    with pytest.raises(StaleOutputError, match=r"parameter cube_size_m: 2.0 -> 3.0"):
        _s2_test(own_egobody, out, results, cube_size_m=3.0)
    assert _s2_test(own_egobody, out, results, overwrite=True).num_computed == 3
    after = _cubes(out)
    assert len(after) == len(before) and any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_s2_train_refuses_another_body_model(own_egobody, tmp_path):
    out = tmp_path / "s2"
    opt = dict(root=str(own_egobody.root), split="train", out_root=str(out), mode="train", num_points=S2_POINTS)
    opt["body_model"] = str(own_egobody.body_path)
    run_scene_s2(SceneS2Options(**opt), progress=False)
    with np.load(own_egobody.body_path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["v_template"] = arrays["v_template"] + 0.01
    np.savez(own_egobody.body_path, **arrays)
    with pytest.raises(StaleOutputError, match=r"input body_model: 'sha256:"):
        run_scene_s2(SceneS2Options(**opt), progress=False)


def test_pose_stats_refuse_changed_annotations(own_egobody, tmp_path):
    out = tmp_path / "stats"
    stats, path = pose_stats_job(own_egobody.root, "train", out)
    nudge_annotation(own_egobody.root, "train", "pose", 0.2)
    with pytest.raises(StaleOutputError, match=r"input annotations"):
        pose_stats_job(own_egobody.root, "train", out)
    new, _ = pose_stats_job(own_egobody.root, "train", out, overwrite=True)
    assert not np.allclose(new.x_mean, stats.x_mean)
    np.testing.assert_array_equal(load_pose_stats(path).x_mean, new.x_mean)
