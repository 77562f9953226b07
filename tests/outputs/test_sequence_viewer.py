"""`egohmr view` of a sequence results file: the room once, the bodies per frame, playing, the PV camera view."""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pytest

from egohmr.geometry.frames import apply_transform
from egohmr.outputs.sequence_outputs import MAX_GLB_SCENE_POINTS, room_arrays, save_sequence_results
from egohmr.outputs.sequence_viewer import SequenceViewer, load_sequence_scene, pv_camera_pose
from tests.outputs.fake_viser import FakeServer
from tests.outputs.helpers import box_body, box_mesh

N, S = 3, 2


def _pv2scene(i: int) -> np.ndarray:
    """The wearer at (i, 1.6, 0) m, head level, turned by 0.4 i rad about the scene's y axis (PV y down, z forward)."""
    a = 0.4 * i
    yaw = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    T = np.eye(4)
    T[:3, :3] = yaw @ np.diag([1.0, -1.0, -1.0])  # PV forward = scene -z before the turn
    T[:3, 3] = (i, 1.6, 0.0)
    return T


def _write_sequence(path, scene_frame="scene", room="mesh", mtime=None):
    body_v, body_f = box_body((0.0, 0.5, 3.0))
    vertices_pv = np.stack([np.stack([body_v + (0.1 * s, 0, 0.2 * i) for s in range(S)]) for i in range(N)])
    transl_pv = vertices_pv.mean(axis=2)
    pv2scene = np.stack([_pv2scene(i) if scene_frame == "scene" else np.eye(4) for i in range(N)])
    arrays = {
        "frame_names": np.array([f"f{i:03d}.jpg" for i in range(N)]),
        "intrinsics": np.tile([200.0, 200.0, 159.5, 89.5], (N, 1)),
        "pv2scene": pv2scene,
        "world2pv": np.linalg.inv(pv2scene),
        "vertices_pv": vertices_pv.astype(np.float32),
        "vertices_scene": apply_transform(pv2scene[:, None], vertices_pv).astype(np.float32),
        "transl_scene": apply_transform(pv2scene, transl_pv).astype(np.float32),
        "faces": body_f,
    }
    if room == "mesh":
        arrays |= room_arrays(box_mesh((0, 1.5, 0), (6, 3, 6)), None)
    elif room == "points":
        arrays |= room_arrays(None, np.random.default_rng(0).uniform(-3, 3, (500, 3)))
    path = save_sequence_results(path, arrays, {"scene_frame": scene_frame, "smoothed": False})
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path, arrays


def _names(server, kind):
    return [entry[1] for entry in server.log if entry[0] == kind]


def test_room_once_bodies_per_frame(tmp_path):
    path, arrays = _write_sequence(tmp_path / "sequence_frames_run01.npz")
    server = FakeServer()
    viewer = SequenceViewer(server, path)
    assert ("up", "+y", {}) in server.log
    meshes = {name: kw for kind, name, kw in server.log if kind == "mesh"}  # before any "remove" entry
    assert set(meshes) == {"/room/mesh", "/frame/pv_camera", "/frame/sample_00_mode", "/frame/sample_01"}
    np.testing.assert_allclose(meshes["/room/mesh"]["vertices"], arrays["room_vertices_scene"])
    np.testing.assert_allclose(meshes["/frame/sample_01"]["vertices"], arrays["vertices_scene"][0, 1], atol=1e-6)
    mode = meshes["/frame/sample_00_mode"]
    assert mode["color"] == (230, 60, 50) and mode["opacity"] is None
    assert meshes["/frame/sample_01"]["opacity"] < 1
    # the PV camera marker sits at the frame's camera centre
    assert np.linalg.norm(meshes["/frame/pv_camera"]["vertices"] - _pv2scene(0)[:3, 3], axis=1).min() < 1e-6
    (lines,) = [kw for kind, name, kw in server.log if kind == "lines"]
    assert lines["points"].shape == (N - 1, 2, 3)
    np.testing.assert_allclose(lines["points"][1, 1], arrays["transl_scene"][2, 0], atol=1e-6)

    server.gui.handles["frame"].set(2)
    server.gui.handles["frame"].set(1)
    assert viewer.index == 1
    assert _names(server, "mesh").count("/room/mesh") == 1 and "/room/mesh" not in _names(server, "remove")
    assert _names(server, "remove").count("/frame/sample_00_mode") == 2
    last_mode = [e[2] for e in server.log if e[:2] == ("mesh", "/frame/sample_00_mode")][-1]
    np.testing.assert_allclose(last_mode["vertices"], arrays["vertices_scene"][1, 0], atol=1e-6)
    assert "frame 2 / 3" in server.gui.handles["markdown"].content and "f001.jpg" in viewer.markdown()

    server.gui.handles["room"].set(False)
    server.gui.handles["other samples"].set(False)
    assert viewer.room["room"].visible is False and viewer.room["trajectory"].visible is True
    assert viewer.handles["sample_01"].visible is False and viewer.handles["sample_00_mode"].visible is True


def test_step_advances_and_wraps(tmp_path):
    path, _ = _write_sequence(tmp_path / "sequence_frames_run01.npz")
    server = FakeServer()
    viewer = SequenceViewer(server, path)
    seen = []
    for _ in range(N):
        viewer.step()
        seen.append((viewer.index, server.gui.handles["frame"].value))
    assert seen == [(1, 1), (2, 2), (0, 0)]


def test_player_thread_plays_and_stops(tmp_path):
    path, _ = _write_sequence(tmp_path / "sequence_frames_run01.npz")
    server = FakeServer()
    viewer = SequenceViewer(server, path)
    server.gui.handles["fps"].value = 60.0
    viewer.start()
    try:
        time.sleep(0.1)
        assert viewer.index == 0  # not playing yet
        server.gui.handles["play"].value = True
        deadline = time.monotonic() + 5.0
        while viewer.index == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert viewer.index != 0
    finally:
        viewer.close()
    assert viewer._thread is None


def test_clients_look_through_the_pv_camera(tmp_path):
    path, _ = _write_sequence(tmp_path / "sequence_frames_run01.npz")
    server = FakeServer()
    viewer = SequenceViewer(server, path)
    viewer.show(1)
    client = server.connect()
    T = _pv2scene(1)
    cam = client.camera
    np.testing.assert_allclose(cam.position, T[:3, 3])  # camera centre, scene frame
    forward_pv = T[:3, :3].T @ (cam.look_at - cam.position)  # the view direction in PV axes: +z
    up_pv = T[:3, :3].T @ cam.up_direction
    np.testing.assert_allclose(forward_pv, [0, 0, 1], atol=1e-9)
    np.testing.assert_allclose(up_pv, [0, -1, 0], atol=1e-9)
    assert cam.fov == pytest.approx(2 * np.arctan(89.5 / 200.0)) and cam.near > 0.12  # clips the marker it sits in

    other = server.connect()
    viewer.show(2)
    other.camera.position = np.array([9.0, 9.0, 9.0])  # the user orbits away
    server.gui.handles["view from PV camera"].click()
    for c in (client, other):
        np.testing.assert_allclose(c.camera.position, _pv2scene(2)[:3, 3])


def test_camera_frame_run_is_turned_like_the_glb(tmp_path):
    path, arrays = _write_sequence(tmp_path / "sequence_frames_run01.npz", scene_frame="camera", room="points")
    seq = load_sequence_scene(path)
    position, look_at, up = pv_camera_pose(seq.pv2view[0])
    np.testing.assert_allclose(position, 0, atol=1e-12)
    np.testing.assert_allclose(look_at, [0, 0, -1])
    np.testing.assert_allclose(up, [0, 1, 0])
    server = FakeServer()
    SequenceViewer(server, path)
    (points,) = [kw for kind, name, kw in server.log if kind == "points" and name == "/room/points"]
    np.testing.assert_allclose(points["points"], arrays["room_points_scene"] * [1, -1, -1], atol=1e-6)


def test_room_arrays_keep_files_small():
    points = np.random.default_rng(1).normal(size=(MAX_GLB_SCENE_POINTS + 10, 3))
    room = room_arrays(None, points)
    assert set(room) == {"room_points_scene"} and room["room_points_scene"].shape == (MAX_GLB_SCENE_POINTS, 3)
    assert room["room_points_scene"].dtype == np.float32
    mesh = room_arrays(box_mesh((0, 0, 0), (1, 1, 1)), points)
    assert set(mesh) == {"room_vertices_scene", "room_faces"} and mesh["room_faces"].dtype == np.int32
    assert room_arrays(None, None) == {}


def test_file_without_room_or_fields(tmp_path):
    path, _ = _write_sequence(tmp_path / "sequence_old_run01.npz", room=None)
    server = FakeServer()
    viewer = SequenceViewer(server, path)
    assert not [name for name in _names(server, "mesh") + _names(server, "points") if name.startswith("/room/")]
    assert "not in this results file" in viewer.markdown()
    broken = tmp_path / "sequence_broken_run01.npz"
    np.savez(broken, frame_names=np.array(["a"]))
    with pytest.raises(ValueError, match=r"sequence_broken_run01\.npz.*'pv2scene'"):
        load_sequence_scene(broken)


def _parse(argv):
    from egohmr.cli import view

    parser = argparse.ArgumentParser()
    view.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_picks_the_newest_run_or_the_named_one(tmp_path, monkeypatch, capsys):
    import egohmr.cli.main as cli_main
    from egohmr.cli.view import sequence_results_or_none

    assert sequence_results_or_none(tmp_path, None) is None
    old, _ = _write_sequence(tmp_path / "sequence_frames_run02.npz", mtime=1_000_000)
    new, _ = _write_sequence(tmp_path / "sequence_frames_run01.npz", mtime=2_000_000)
    assert sequence_results_or_none(tmp_path, None) == new
    assert sequence_results_or_none(tmp_path, "frames_run02") == old
    assert sequence_results_or_none(tmp_path, "sequence_frames_run02.npz") == old
    args = _parse(["view", str(tmp_path), "--run", "frames_run07"])
    with pytest.raises(ValueError, match=r"--run 'frames_run07'.*runs there: frames_run01, frames_run02"):
        args.func(args)
    monkeypatch.setattr(cli_main, "SUBCOMMAND_MODULES", ("view",))
    assert cli_main.main(["view", str(tmp_path), "--run", "nope"]) == 2
    assert "frames_run01, frames_run02" in capsys.readouterr().err
