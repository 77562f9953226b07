"""Readers and writers of the official EgoBody files (no body model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from egohmr.data import egobody_format as fmt


def _rigid(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    T = np.eye(4)
    T[:3, :3] = q
    T[:3, 3] = rng.normal(size=3)
    return T


def test_chain_inverts_and_solves():
    rng = np.random.default_rng(0)
    k2s, k2h, s2p = _rigid(rng), _rigid(rng), _rigid(rng)
    np.testing.assert_allclose(fmt.invert_rigid_np(k2s) @ k2s, np.eye(4), atol=1e-12)
    w2p = fmt.world2pv_from_scene2pv(s2p, k2s, k2h)
    np.testing.assert_allclose(fmt.scene2pv(k2s, k2h, w2p), s2p, atol=1e-12)
    # The chain is the documented product, ADD_TRANS = diag(1, -1, -1, 1).
    p = np.array([0.3, 1.2, -2.0, 1.0])
    expected = np.diag([1.0, -1, -1, 1]) @ w2p @ k2h @ np.linalg.inv(k2s) @ p
    np.testing.assert_allclose(s2p @ p, expected, atol=1e-12)


def test_npz_writer_is_deterministic_and_loadable(tmp_path):
    fields = {
        "imgname": np.asarray(["egocentric_color/rec/2021-01-01-000000/PV/123_frame_00001.jpg"] * 2),
        "transl_pv": np.arange(6, dtype=np.float32).reshape(2, 3),
        "gender": np.asarray(["m", "f"]),
    }
    fmt.write_annotation_npz(tmp_path / "a.npz", fields)
    fmt.write_annotation_npz(tmp_path / "b.npz", fields)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz") as data:  # no pickles needed
        np.testing.assert_array_equal(data["transl_pv"], fields["transl_pv"])
        assert data["gender"].tolist() == ["m", "f"]
    with pytest.raises(ValueError, match="frames"):
        fmt.write_annotation_npz(tmp_path / "c.npz", {"a": np.zeros(2), "b": np.zeros(3)})


def test_imgname_round_trip():
    rel = fmt.image_relpath("recording_20210907_S03_S04_01", "2021-09-07-155421", "132754997786014666", 1888)
    assert (
        rel == "egocentric_color/recording_20210907_S03_S04_01/2021-09-07-155421/PV/132754997786014666_frame_01888.jpg"
    )
    key = fmt.parse_imgname("/mnt/ssd/egobody_release/" + rel)
    assert (key.recording, key.holo_time, key.timestamp, key.frame) == (
        "recording_20210907_S03_S04_01",
        "2021-09-07-155421",
        "132754997786014666",
        1888,
    )
    with pytest.raises(ValueError, match="imgname"):
        fmt.parse_imgname("egocentric_color/rec/x.jpg")


def test_side_files_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    T = _rigid(rng)
    fmt.write_kinect2scene(fmt.kinect2scene_path(tmp_path, "rec", "room"), T)
    np.testing.assert_allclose(fmt.read_kinect2scene(fmt.kinect2scene_path(tmp_path, "rec", "room")), T)
    fmt.write_transf_matrices(
        fmt.transf_matrices_path(tmp_path), {"rec": fmt.RecordingTransforms(T, {"123": T, "456": np.eye(4)})}
    )
    tr = fmt.read_transf_matrices(fmt.transf_matrices_path(tmp_path))
    assert set(tr["rec"].world2pv) == {"123", "456"}
    np.testing.assert_allclose(tr["rec"].kinect2holo, T)
    fmt.write_data_info(
        fmt.data_info_path(tmp_path), [{"recording_name": "rec", "scene_name": "room", "body_idx_fpv": "1 male"}]
    )
    assert fmt.recording_to_scene(fmt.data_info_path(tmp_path)) == {"rec": "room"}
    fmt.write_kinect_color_params(fmt.kinect_color_params_path(tmp_path), (900, 901), (950, 540))
    np.testing.assert_allclose(fmt.read_kinect_color_params(fmt.kinect_color_params_path(tmp_path))["f"], [900, 901])
    with pytest.raises(FileNotFoundError, match="calibration"):
        fmt.read_kinect2scene(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text('{"trans": [[1, 0], [0, 1]]}')
    with pytest.raises(ValueError, match="trans"):
        fmt.read_kinect2scene(tmp_path / "bad.json")
