"""Results files: our npz, official stage-1/stage-2 pickles, errors naming file and key."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from egohmr.evaluate.results_io import (
    PredictionResults,
    load_any_results,
    read_official_stage1,
    read_official_stage2,
    read_results,
    write_official_stage1,
    write_official_stage2,
    write_results,
)


def make_results(num_frames: int = 3, num_samples: int = 2, seed: int = 0) -> PredictionResults:
    rng = np.random.default_rng(seed)
    eye = np.broadcast_to(np.eye(3, dtype=np.float32), (num_frames, num_samples, 3, 3))
    return PredictionResults(
        pred_betas=rng.normal(size=(num_frames, num_samples, 10)).astype(np.float32),
        pred_global_orient_rotmat=eye.copy(),
        pred_body_pose_rotmat=np.broadcast_to(eye[:, :, None], (num_frames, num_samples, 23, 3, 3)).copy(),
        pred_transl_pv=rng.normal(size=(num_frames, 3)).astype(np.float32),
        imgname=np.asarray([f"a/b/c/PV/1_frame_{i:05d}.jpg" for i in range(num_frames)]),
        metadata={"checkpoint": "x.pt", "seed": 3},
    )


def official_dict(results: PredictionResults) -> dict[str, np.ndarray]:
    n, s = results.num_frames, results.num_samples
    return {
        "pred_betas_list": results.pred_betas,
        "pred_global_orient_list": results.pred_global_orient_rotmat[:, :, None],
        "pred_body_pose_list": results.pred_body_pose_rotmat,
        "collision_ratio_list": np.full((n, s), 0.25),
        "contact_ratio_list": np.ones((n, s)),
        "pred_cam_full_list": results.pred_transl_pv,
        "gt_cam_full_list": results.pred_transl_pv + 0.1,
    }


def test_ours_roundtrip(tmp_path):
    results = make_results()
    path = tmp_path / "sub" / "results.npz"
    write_results(path, results)
    back = read_results(path)
    for key in ("pred_betas", "pred_global_orient_rotmat", "pred_body_pose_rotmat", "pred_transl_pv"):
        np.testing.assert_array_equal(getattr(back, key), getattr(results, key))
    assert back.imgname.tolist() == results.imgname.tolist()
    assert back.metadata == {"checkpoint": "x.pt", "seed": 3}
    assert back.num_samples == 2 and back.source_format == "ours"
    assert load_any_results(path).num_frames == 3
    assert [p.name for p in path.parent.iterdir()] == ["results.npz"]  # no temporary file left


def test_ours_missing_key_and_bad_shape(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, pred_betas=np.zeros((2, 1, 10)))
    with pytest.raises(ValueError, match=r"bad\.npz.*missing key"):
        read_results(path)
    results = make_results()
    results.pred_transl_pv = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="'pred_transl_pv' has shape"):
        write_results(tmp_path / "x.npz", results)


def test_official_stage2_read_protocol2(tmp_path):
    results = make_results()
    path = tmp_path / "output_egohmr_91453" / "results_seed_0.pkl"
    path.parent.mkdir()
    # Written as numpy 1.x does (the official files): arrays rebuilt via numpy.core.multiarray.
    raw = pickle.dumps(official_dict(results), protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"cnumpy.core.multiarray\n" in raw
    path.write_bytes(raw)
    back = read_official_stage2(path)
    np.testing.assert_array_equal(back.pred_global_orient_rotmat, results.pred_global_orient_rotmat)
    np.testing.assert_array_equal(back.pred_transl_pv, results.pred_transl_pv)
    np.testing.assert_allclose(back.stored_collision_ratio, 0.25)
    assert back.imgname is None and back.metadata["translation_source"] == "stage1"
    assert load_any_results(path).source_format == "official_stage2"


def test_official_stage2_without_stage1_uses_gt_translation(tmp_path):
    results = make_results()
    data = official_dict(results)
    del data["pred_cam_full_list"]
    path = tmp_path / "r.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    back = read_official_stage2(path)
    np.testing.assert_array_equal(back.pred_transl_pv, data["gt_cam_full_list"])
    assert back.metadata["translation_source"] == "gt"


def test_official_stage2_write_roundtrip_is_protocol2(tmp_path):
    results = make_results()
    path = tmp_path / "results_seed_1.pkl"
    write_official_stage2(path, results)
    raw = path.read_bytes()
    assert raw[:2] == b"\x80\x02"
    data = pickle.loads(raw)
    assert data["pred_global_orient_list"].shape == (3, 2, 1, 3, 3)
    assert data["pred_betas_list"].dtype == np.float32
    np.testing.assert_array_equal(read_official_stage2(path).pred_betas, results.pred_betas)


def test_official_errors_name_file_and_key(tmp_path):
    results = make_results()
    data = official_dict(results)
    data["pred_body_pose_list"] = data["pred_body_pose_list"][:, :, :22]
    path = tmp_path / "short.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(ValueError, match=r"short\.pkl.*'pred_body_pose_rotmat' has shape"):
        read_official_stage2(path)
    stage1 = tmp_path / "results.pkl"
    write_official_stage1(stage1, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="stage-1 results.pkl"):
        read_official_stage2(stage1)


def test_stage1_roundtrip_and_errors(tmp_path):
    path = tmp_path / "output_prohmr_scene_53618" / "results.pkl"
    transl = np.arange(12, dtype=np.float64).reshape(4, 3)
    write_official_stage1(path, transl)
    back = read_official_stage1(path)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, transl)
    with pytest.raises(ValueError, match="pred_cam_full_list"):
        write_official_stage1(path, np.zeros((4, 2)))
    with pytest.raises(FileNotFoundError):
        read_official_stage1(tmp_path / "nope.pkl")


def test_pickle_with_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"pred_cam_full_list": Evil()}, protocol=2))
    with pytest.raises(ValueError, match="refusing to load"):
        read_official_stage1(path)


def test_unknown_format(tmp_path):
    path = tmp_path / "results.txt"
    path.write_text("hello")
    with pytest.raises(ValueError, match="neither"):
        load_any_results(path)
