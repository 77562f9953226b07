"""Scene preprocessing: official formats, geometry, resumability, determinism, errors and the CLI."""

from __future__ import annotations

import argparse
import pickle

import numpy as np
import pytest

from egohmr.data import egobody_format as ebf
from egohmr.data.scene_points import s1_key, s2_cube_path
from egohmr.preprocess.sampling import frame_rng, uniform_downsample
from egohmr.preprocess.scene_s1 import SceneS1Options, plan_s1, run_scene_s1
from egohmr.preprocess.scene_s2 import SceneS2Options, crop_cube, run_scene_s2
from tests.data.conftest import S1_POINTS, S2_POINTS


def test_plan_s1_every_and_recording_change():
    names = [ebf.image_relpath("a", "t", str(100 + i), i) for i in range(5)]
    names += [ebf.image_relpath("b", "t", str(200 + i), i) for i in range(4)]
    assert plan_s1(names, 3).tolist() == [0, 0, 0, 3, 3, 5, 6, 6, 6]


def test_uniform_downsample_and_errors():
    pts = np.arange(30.0).reshape(10, 3)
    np.testing.assert_array_equal(uniform_downsample(pts, 4, "f"), pts[[0, 2, 4, 6]])
    with pytest.raises(ValueError, match="frame X: only 10 scene points, need 20"):
        uniform_downsample(pts, 20, "frame X")
    out = uniform_downsample(pts, 20, "f", allow_replacement=True, rng=frame_rng(0, "f", "scene-s1"))
    assert out.shape == (20, 3)


def test_s1_official_format(tiny_egobody, s1_dir):
    pcd = pickle.loads((s1_dir / "pcd_verts_dict_train.pkl").read_bytes())
    mapping = pickle.loads((s1_dir / "map_dict_train.pkl").read_bytes())
    names = [str(n) for n in ebf.read_annotation_npz(ebf.annotation_path(tiny_egobody.root, "train"))["imgname"]]
    assert set(mapping) == {s1_key(n) for n in names} and set(mapping.values()) == set(pcd)
    assert all(k.startswith("egocentric_color/") for k in pcd)
    assert all(v.shape == (S1_POINTS, 3) and v.dtype == np.float64 for v in pcd.values())
    assert not list(s1_dir.glob(".parts_*"))


def test_s1_resumable_and_worker_independent(tiny_egobody, s1_dir, tmp_path):
    opts = dict(root=str(tiny_egobody.root), split="train", num_points=S1_POINTS, every=3)
    again = run_scene_s1(SceneS1Options(out_dir=str(s1_dir), **opts), progress=False)
    assert again.num_computed == 0
    res = run_scene_s1(SceneS1Options(out_dir=str(tmp_path), num_workers=2, **opts), progress=False)
    assert res.num_computed == res.num_saved == 4
    a = pickle.loads((s1_dir / "pcd_verts_dict_train.pkl").read_bytes())
    b = pickle.loads((tmp_path / "pcd_verts_dict_train.pkl").read_bytes())
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_s2_files_resumable_and_deterministic(tiny_egobody, s2_root, tmp_path):
    names = [str(n) for n in ebf.read_annotation_npz(ebf.annotation_path(tiny_egobody.root, "train"))["imgname"]]
    files = [s2_cube_path(s2_root, "train", n) for n in names]
    assert files[0].name.endswith("_frame_00010.npy") and files[0].parent.parent.name == "rec_a"
    arrays = [np.load(f) for f in files]
    assert all(a.shape == (S2_POINTS, 3) and a.dtype == np.float64 for a in arrays)
    opts = dict(
        root=str(tiny_egobody.root), split="train", body_model=str(tiny_egobody.body_path), num_points=S2_POINTS
    )
    assert run_scene_s2(SceneS2Options(out_root=str(s2_root), **opts), progress=False).num_computed == 0
    res = run_scene_s2(SceneS2Options(out_root=str(tmp_path), num_workers=2, chunk_size=2, **opts), progress=False)
    assert res.num_computed == 9
    for n, a in zip(names, arrays, strict=True):
        np.testing.assert_array_equal(np.load(s2_cube_path(tmp_path, "train", n)), a)
    other = run_scene_s2(SceneS2Options(out_root=str(tmp_path / "s7"), seed=7, **opts), progress=False)
    assert other.num_computed == 9
    assert not np.array_equal(np.load(s2_cube_path(tmp_path / "s7", "train", names[0])), arrays[0])


def test_s2_test_mode_needs_results_and_checks_counts(tiny_egobody, tmp_path):
    base = dict(root=str(tiny_egobody.root), split="test", out_root=str(tmp_path), mode="test")
    with pytest.raises(ValueError, match="stage1_results"):
        run_scene_s2(SceneS2Options(**base), progress=False)
    data = ebf.read_annotation_npz(ebf.annotation_path(tiny_egobody.root, "test"))
    res_path = tmp_path / "results.pkl"
    res_path.write_bytes(pickle.dumps({"pred_cam_full_list": data["transl_pv"].astype(np.float32)}))
    with pytest.raises(ValueError, match=r"frame egocentric_color/rec_c/.*only \d+ scene points, need 20000"):
        run_scene_s2(SceneS2Options(stage1_results=str(res_path), **base), progress=False)
    res = run_scene_s2(SceneS2Options(stage1_results=str(res_path), num_points=S2_POINTS, **base), progress=False)
    assert res.num_computed == 3


def test_crop_cube_geometry():
    g = np.linspace(-3, 3, 121)
    xx, zz = np.meshgrid(g, g, indexing="ij")
    floor = np.stack([xx.ravel(), np.zeros(xx.size), zz.ravel()], 1)
    high = floor + [0.0, 2.5, 0.0]  # a ceiling above the 2 m band: always dropped
    verts = np.concatenate([floor, high])
    body = np.array([[0.2, 1.0, 0.1], [-0.2, 0.0, -0.1]])
    c = np.array([0.0, 0.8, 0.0])
    out = crop_cube(verts, c, np.random.default_rng(0), 1000, "f", body_verts_scene=body)
    assert out.shape == (1000, 3) and (out[:, 1] == 0).all()
    assert np.hypot(out[:, 0], out[:, 2]).max() <= np.sqrt(2) * 1.5 + 1e-9
    same = crop_cube(verts, c, np.random.default_rng(0), 1000, "f", body_verts_scene=body)
    np.testing.assert_array_equal(out, same)
    # without a shift the square is centred: every kept point within the half-diagonal
    out = crop_cube(verts, c, np.random.default_rng(1), 1000, "f")
    assert np.hypot(out[:, 0], out[:, 2]).max() <= np.sqrt(2) + 1e-9


def test_cli_commands(tiny_egobody, tmp_path, capsys):
    from egohmr.cli import preprocess

    parser = argparse.ArgumentParser()
    preprocess.register(parser.add_subparsers(dest="command"))
    root = str(tiny_egobody.root)
    cmds = [
        ["preprocess", "scene-s1", "--dataset", root, "--out", str(tmp_path / "s1"), "--num-points", "300",
         "--no-progress"],
        ["preprocess", "scene-s2-train", "--dataset", root, "--out", str(tmp_path / "s2"), "--num-points", "100",
         "--body", str(tiny_egobody.body_path), "--no-progress"],
        ["preprocess", "stats", "--dataset", root, "--out", str(tmp_path / "stats")],
    ]  # fmt: skip
    for argv in cmds:
        args = parser.parse_args(argv)
        assert args.func(args) == 0
    assert (tmp_path / "s1" / "map_dict_train.pkl").is_file()
    assert (tmp_path / "stats" / "preprocess_stats.npz").is_file()
    assert len(list((tmp_path / "s2" / "train").rglob("*.npy"))) == 9
