"""`egohmr view`: the viewer scene built on a fake viser server, and the CLI's error paths."""

from __future__ import annotations

import argparse
import inspect
import sys

import numpy as np
import pytest

from egohmr.outputs.frame_record import save_frame_record
from egohmr.outputs.scene_export import pv_to_gltf
from egohmr.outputs.viewer import FrameViewer
from tests.outputs.fake_viser import FakeServer
from tests.outputs.helpers import make_record


def _records(tmp_path, n=2):
    paths = []
    for i in range(n):
        rec = make_record(num_samples=3 if i == 0 else 2, with_gt=i == 0, seed=i, name=f"frame_{i}")
        paths.append(save_frame_record(tmp_path / "frames" / f"{i:04d}.npz", rec))
    return paths


def test_viewer_builds_scene_and_switches_frames(tmp_path):
    paths = _records(tmp_path)
    server = FakeServer()
    viewer = FrameViewer(server, paths)
    meshes = {name: kw for kind, name, kw in server.log if kind == "mesh"}
    assert set(meshes) == {
        "/frame/pv_camera",
        "/frame/gt_body",
        "/frame/sample_00_mode",
        "/frame/sample_01",
        "/frame/sample_02",
    }
    rec0 = make_record(num_samples=3, seed=0)
    assert np.allclose(meshes["/frame/gt_body"]["vertices"], pv_to_gltf(rec0.gt_vertices_pv))
    assert meshes["/frame/sample_00_mode"]["color"] == (230, 60, 50)
    points = [kw for kind, name, kw in server.log if kind == "points"]
    assert len(points) == 1 and points[0]["points"].shape == rec0.scene_points_pv.shape
    assert ("up", "+y", {}) in server.log
    assert "frame_0" in server.gui.handles["markdown"].content
    # Slider to frame 1: old nodes removed, new ones (no GT, 2 samples) added.
    server.log.clear()
    server.gui.handles["frame"].set(1)
    assert {name for kind, name in [e[:2] for e in server.log] if kind == "remove"} == set(meshes) | {
        "/frame/scene_points"
    }
    assert viewer.index == 1 and set(viewer.handles) == {"scene_points", "pv_camera", "sample_00_mode", "sample_01"}
    # Toggles hide groups.
    server.gui.handles["other samples"].set(False)
    assert viewer.handles["sample_01"].visible is False and viewer.handles["sample_00_mode"].visible is True
    server.gui.handles["scene"].set(False)
    assert viewer.handles["scene_points"].visible is False and viewer.handles["pv_camera"].visible is False


def test_fake_matches_the_real_viser_api():
    viser = pytest.importorskip("viser")
    SceneApi, GuiApi = viser.SceneApi, viser.GuiApi  # no server is started: only the class API is inspected

    used = {
        SceneApi.add_point_cloud: {"point_size"},
        SceneApi.add_mesh_simple: {"color", "opacity", "side"},
        SceneApi.add_line_segments: {"points", "colors"},
        SceneApi.set_up_direction: set(),
        GuiApi.add_slider: {"min", "max", "step", "initial_value"},
        GuiApi.add_checkbox: set(),
        GuiApi.add_number: {"initial_value", "min", "max", "step"},
        GuiApi.add_button: set(),
        GuiApi.add_markdown: set(),
        viser.ViserServer.on_client_connect: set(),
        viser.ViserServer.get_clients: set(),
        viser.ClientHandle.atomic: set(),
    }
    for func, kwargs in used.items():
        assert kwargs <= set(inspect.signature(func).parameters), func.__name__
    for attribute in ("position", "look_at", "up_direction", "fov", "near"):
        assert isinstance(getattr(viser.CameraHandle, attribute), property), attribute


def _parse(argv):
    from egohmr.cli import view

    parser = argparse.ArgumentParser()
    view.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_errors_cleanly_without_records(tmp_path, monkeypatch, capsys):
    import egohmr.cli.main as cli_main

    args = _parse(["view", str(tmp_path)])
    with pytest.raises(FileNotFoundError, match="no frame records"):
        args.func(args)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        args.func(_parse(["view", str(tmp_path / "nope")]))
    monkeypatch.setattr(cli_main, "SUBCOMMAND_MODULES", ("view",))
    assert cli_main.main(["view", str(tmp_path)]) == 2
    assert "no frame records" in capsys.readouterr().err


def test_cli_names_the_extra_when_viser_is_missing(tmp_path, monkeypatch):
    from egohmr.cli.main import UserError

    _records(tmp_path, 1)
    monkeypatch.setitem(sys.modules, "viser", None)  # import viser -> ImportError
    args = _parse(["view", str(tmp_path), "--port", "8123"])
    with pytest.raises(UserError, match=r"pip install 'egohmr\[viewer\]'"):
        args.func(args)
