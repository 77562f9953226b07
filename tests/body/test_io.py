"""Body model files: chumpy pickles without chumpy, sparse regressors, npz, directory layout and clear errors."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest
import torch

from egohmr.body import load_body_arrays, load_body_model, resolve_body_path, save_body_model_npz
from egohmr.body.io import OPEN_BODY_DIR
from egohmr.constants import SMPL_LANDMARK_VERTEX_IDS
from tests.body import random_body_arrays
from tests.body.smpl_pickle import write_chumpy_style_pickle


@pytest.fixture()
def arrays() -> dict:
    return random_body_arrays(np.random.default_rng(0))


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_chumpy_pickle_loads_without_chumpy(tmp_path, arrays, protocol):
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    write_chumpy_style_pickle(path, arrays, protocol)
    assert "chumpy" not in sys.modules
    loaded = load_body_arrays(path)
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights"):
        np.testing.assert_allclose(loaded[key], arrays[key], rtol=0, atol=1e-7)
        assert loaded[key].dtype == np.float32 and isinstance(loaded[key], np.ndarray)
    np.testing.assert_array_equal(loaded["f"], arrays["f"].astype(np.int64))
    model = load_body_model(tmp_path, gender="neutral")
    assert model.num_vertices == arrays["v_template"].shape[0]
    assert model.parents[0].item() == -1


def test_npz_round_trip_and_model_equivalence(tmp_path, arrays):
    path = save_body_model_npz(tmp_path / "body.npz", {**arrays, "gender": np.array("female")})
    loaded = load_body_arrays(path)
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "landmark_vertex_ids"):
        np.testing.assert_array_equal(loaded[key], arrays[key])
    pkl = tmp_path / "body.pkl"
    write_chumpy_style_pickle(pkl, arrays, 2)
    a, b = load_body_model(path, gender="female"), load_body_model(pkl)
    assert a.gender == "female"
    pose = torch.eye(3).expand(1, 23, 3, 3)
    out_a = a(torch.ones(1, 10), torch.eye(3)[None], pose)
    out_b = b(torch.ones(1, 10), torch.eye(3)[None], pose)
    torch.testing.assert_close(out_a.vertices, out_b.vertices)


def test_num_betas_takes_the_first_components(tmp_path):
    arrays = random_body_arrays(np.random.default_rng(1), num_betas=300)
    path = save_body_model_npz(tmp_path / "wide.npz", arrays)
    loaded = load_body_arrays(path, num_betas=10)
    np.testing.assert_array_equal(loaded["shapedirs"], arrays["shapedirs"][:, :, :10])
    assert load_body_model(path, num_betas=16).num_betas == 16
    with pytest.raises(ValueError, match="shapedirs"):
        load_body_arrays(path, num_betas=301)


def test_directory_layout(tmp_path, arrays):
    save_body_model_npz(tmp_path / "SMPL_MALE.npz", arrays)
    write_chumpy_style_pickle(tmp_path / "SMPL_FEMALE.pkl", arrays, 2)
    assert resolve_body_path(tmp_path, "male") == tmp_path / "SMPL_MALE.npz"
    assert resolve_body_path(tmp_path, "female") == tmp_path / "SMPL_FEMALE.pkl"
    with pytest.raises(FileNotFoundError, match=r"SMPL_NEUTRAL\.pkl.*smpl\.is\.tue\.mpg\.de"):
        load_body_model(tmp_path, "neutral")
    with pytest.raises(ValueError, match="gender"):
        resolve_body_path(tmp_path, "other")  # type: ignore[arg-type]


def test_missing_file_names_path_and_source(tmp_path):
    missing = tmp_path / "nope" / "SMPL_NEUTRAL.pkl"
    with pytest.raises(FileNotFoundError, match=r"nope.*data/smpl/SMPL_NEUTRAL\.pkl"):
        load_body_model(missing)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_body_arrays(missing)


def test_missing_key_names_file_and_key(tmp_path, arrays):
    bad = dict(arrays)
    del bad["weights"]
    path = tmp_path / "bad.npz"
    np.savez(path, **bad)
    with pytest.raises(ValueError, match=r"bad\.npz.*'weights'"):
        load_body_arrays(path)


def test_wrong_shape_names_key(tmp_path, arrays):
    bad = dict(arrays)
    bad["J_regressor"] = bad["J_regressor"][:20]
    path = tmp_path / "bad.npz"
    np.savez(path, **bad)
    with pytest.raises(ValueError, match=r"bad\.npz.*'J_regressor'.*\(24, 240\)"):
        load_body_arrays(path)
    with pytest.raises(ValueError, match="J_regressor"):
        save_body_model_npz(tmp_path / "out.npz", bad)


def test_landmarks_required_for_non_smpl_meshes(tmp_path, arrays):
    no_ids = {k: v for k, v in arrays.items() if k != "landmark_vertex_ids"}
    path = tmp_path / "no_ids.npz"
    np.savez(path, **no_ids)
    with pytest.raises(ValueError, match=r"no_ids\.npz.*'landmark_vertex_ids'"):
        load_body_arrays(path)
    with pytest.raises(ValueError, match="missing keys"):
        save_body_model_npz(tmp_path / "out.npz", no_ids)


def test_smpl_sized_mesh_uses_default_landmarks(tmp_path):
    a = random_body_arrays(np.random.default_rng(3), num_vertices=6890, num_betas=2)
    del a["landmark_vertex_ids"]
    a["posedirs"] = np.zeros((6890, 3, 207), dtype=np.float32)
    path = tmp_path / "smpl_sized.npz"
    np.savez(path, **a)
    loaded = load_body_arrays(path, num_betas=2)
    np.testing.assert_array_equal(loaded["landmark_vertex_ids"], SMPL_LANDMARK_VERTEX_IDS)


@pytest.mark.parametrize("content", [b"", b"not a pickle at all", b"\x80\x02}q\x00."])
def test_corrupt_pickle_gives_value_error(tmp_path, content):
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"SMPL_NEUTRAL\.pkl"):
        load_body_arrays(path)


def test_corrupt_npz_and_unknown_suffix(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match=r"broken\.npz"):
        load_body_arrays(path)
    other = tmp_path / "model.obj"
    other.write_text("v 0 0 0\n")
    with pytest.raises(ValueError, match=r"\.obj"):
        load_body_arrays(other)


def test_pickle_with_foreign_callable_is_rejected(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must not run",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"v_template": Evil()}, protocol=2))
    with pytest.raises(ValueError, match=r"evil\.pkl.*builtin.*print"):
        load_body_arrays(path)


def test_open_body_source():
    """The packaged open body is committed: a missing file fails this test (it is not skipped)."""
    for stem in ("open_body", "open_body_lowres"):
        for gender in ("neutral", "male", "female"):
            path = OPEN_BODY_DIR / f"{stem}_{gender}.npz"
            assert path.is_file(), f"committed asset missing: {path} (rebuild with scripts/build_open_body.py)"
    assert resolve_body_path("open", "neutral") == OPEN_BODY_DIR / "open_body_neutral.npz"
    body = load_body_model("open", "neutral")
    out = body(torch.zeros(1, 10), torch.eye(3)[None], torch.eye(3).expand(1, 23, 3, 3))
    assert out.vertices.shape == (1, body.num_vertices, 3) and torch.isfinite(out.vertices).all()


def test_missing_open_body_names_the_build_script(tmp_path, monkeypatch):
    monkeypatch.setattr("egohmr.body.io.OPEN_BODY_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="build_open_body"):
        resolve_body_path("open", "neutral")


@pytest.mark.parametrize("layout", ["flat", "official"])
def test_both_smpl_layouts_resolve_and_log_the_file(tmp_path, arrays, layout, caplog):
    folder = tmp_path / "smpl" if layout == "official" else tmp_path  # official: data/smpl/smpl/SMPL_*.pkl
    folder.mkdir(exist_ok=True)
    write_chumpy_style_pickle(folder / "SMPL_NEUTRAL.pkl", arrays, 2)
    assert resolve_body_path(tmp_path, "neutral") == folder / "SMPL_NEUTRAL.pkl"
    with caplog.at_level("INFO", logger="egohmr.body.io"):
        load_body_model(tmp_path, "neutral")
    assert str(folder / "SMPL_NEUTRAL.pkl") in caplog.text


def test_flat_layout_wins_over_the_model_type_folder(tmp_path, arrays):
    (tmp_path / "smpl").mkdir()
    save_body_model_npz(tmp_path / "smpl" / "SMPL_MALE.npz", arrays)
    write_chumpy_style_pickle(tmp_path / "SMPL_MALE.pkl", arrays, 2)
    assert resolve_body_path(tmp_path, "male") == tmp_path / "SMPL_MALE.pkl"
    with pytest.raises(FileNotFoundError, match=r"SMPL_FEMALE\.pkl.*smpl"):
        resolve_body_path(tmp_path, "female")
