"""`egohmr infer --frames` on a recording exported from the tiny demo's synthetic EgoBody to user formats."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from egohmr.body.identity import body_model_id
from tests.api.frames import load_frame

FAST = ["--num-samples", "2", "--sampler", "ddim", "--steps", "5"]


def _run(argv: list[str]) -> int:
    from egohmr.cli import infer

    parser = argparse.ArgumentParser(prog="egohmr")
    infer.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["infer", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def exported(tiny_demo, tmp_path_factory):
    from egohmr.recordings.export import export_egobody_recording

    return export_egobody_recording(tiny_demo / "dataset", tmp_path_factory.mktemp("recording"))


def _recording_flags(e) -> list[str]:
    return ["--keypoints", str(e.openpose_dir), "--scene", str(e.scene_obj), "--intrinsics", str(e.intrinsics_json),
            "--poses", str(e.poses_json)]  # fmt: skip


def test_infer_sequence_end_to_end(exported, tmp_path, capsys):
    import trimesh

    out = tmp_path / "out"
    assert _run(["--frames", str(exported.frames_dir), *_recording_flags(exported), *FAST, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.strip().splitlines()[-1].endswith(str((out / "index.html").resolve()))
    assert "trained on synthetic data" in printed and "official EgoHMR checkpoints" in printed

    results = out / "sequence_frames_run01.npz"
    seq = np.load(results)
    n = exported.num_frames
    assert seq["vertices_pv"].shape[:2] == (n, 2) and seq["joints_scene"].shape == (n, 2, 24, 3)
    # scene frame = inverse(world2pv) applied to the PV-frame results
    pv2scene = np.linalg.inv(seq["world2pv"])
    expected = seq["joints_pv"] @ np.swapaxes(pv2scene[:, None, :3, :3], -1, -2) + pv2scene[:, None, None, :3, 3]
    np.testing.assert_allclose(seq["joints_scene"], expected, atol=1e-4)
    assert not np.allclose(seq["joints_scene"], seq["joints_pv"], atol=0.1)
    from egohmr.outputs.sequence_outputs import load_sequence_metadata

    meta = load_sequence_metadata(results)
    assert meta["scene_frame"] == "scene" and meta["trained_on_synthetic_data"] and not meta["smoothed"]
    assert meta["body_model"] == "open-lowres"
    assert meta["body_model_sha256"] == body_model_id("open-lowres")["sha256"]

    names = set(trimesh.load(results.with_suffix(".glb"), force="scene").graph.nodes_geometry)
    assert "scene_mesh" in names and sum(name.startswith("frame_") for name in names) == n
    room = trimesh.load(exported.scene_obj, force="mesh", process=False)  # egohmr view shows the room from the npz
    np.testing.assert_allclose(seq["room_vertices_scene"], room.vertices, atol=1e-5)
    assert seq["room_faces"].shape == room.faces.shape
    from egohmr.outputs.sequence_viewer import SequenceViewer
    from tests.outputs.fake_viser import FakeServer

    viewer = SequenceViewer(FakeServer(), results)
    assert viewer.seq.num_frames == n and set(viewer.room) == {"room", "trajectory"}
    for stem in [p.stem for p in sorted(exported.frames_dir.iterdir())]:
        for suffix in (".npz", "_overlay.png", "_scene.png", ".glb"):
            assert (out / "frames" / f"{stem}{suffix}").is_file(), stem + suffix
        pred = np.load(out / "predictions" / f"{stem}.npz")
        assert str(pred["body_model"]) == "open-lowres"
        assert str(pred["body_model_sha256"]) == meta["body_model_sha256"]
    assert len(list((out / "frames").glob("*.npz"))) == n  # frames/ holds only the frame records
    html = (out / "index.html").read_text()
    assert f"Frames ({n})" in html and "sequence_frames_run01.glb" in html and "trained on synthetic data" in html

    # a second run into the same folder (one image, smoothed) keeps the first run's sequence files
    one = sorted(exported.frames_dir.iterdir())[0]
    args = ["--frames", str(one), *_recording_flags(exported), *FAST, "--smooth", "--out", str(out)]
    assert _run(args) == 0
    assert results.is_file() and (out / f"sequence_{one.stem}_run01.npz").is_file()
    assert load_sequence_metadata(out / f"sequence_{one.stem}_run01.npz")["smoothed"]


def test_sequence_stage1_matches_the_egobody_original(exported, pipe, tiny_demo):
    """Through the exported files (OpenPose keypoints, intrinsics.json, camera-to-scene poses.json) every frame gets
    the same stage-1 translation as a pipeline call with the EgoBody-format original's annotations (intrinsics,
    square box from center/scale, valid_keypoints, the scene -> PV chain of the calibrations) and the same frame key.

    The recording's box is the keypoint box (not square) with the same centre and a longer side within 1e-4 px of
    the annotation's ``scale`` (stored as float32), so a few crop pixels round differently: translations agree to
    1 mm, not to float precision. `tests/api/test_infer_matches_test.py` compares with ``egohmr test`` itself."""
    from egohmr.pipeline.sampling import SamplingOverrides
    from egohmr.pipeline.sequence import run_sequence
    from egohmr.recordings import load_recording

    rec = load_recording(
        exported.frames_dir,
        exported.openpose_dir,
        scene=exported.scene_obj,
        intrinsics=exported.intrinsics_json,
        poses=exported.poses_json,
    )
    settings = pipe.sampling_settings(overrides=SamplingOverrides(num_samples=2, sampler="ddim", steps=5, seed=3))
    seq = run_sequence(pipe, rec, settings, seed=3)
    for i, result in enumerate(seq.results):
        original = load_frame(tiny_demo / "dataset", i)
        assert Path(original.name).stem == seq.frames[i].name
        ref = pipe(
            original.image,
            original.intrinsics,
            original.bbox,
            rec.scene.points_scene,
            world2pv=original.scene2pv,
            keypoints_op25=original.keypoints,
            settings=settings,
            frame_key=Path(original.name).stem,
        )
        np.testing.assert_allclose(result.transl_pv, ref.transl_pv, atol=1e-3)
        np.testing.assert_array_equal(result.visibility, ref.visibility)


def test_infer_refuses_foreign_folder_and_file(exported, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("x")
    with pytest.raises(ValueError, match="not written by egohmr infer"):
        _run(["--frames", str(exported.frames_dir), *_recording_flags(exported), "--out", str(tmp_path / "mine")])
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        _run(["--frames", str(exported.frames_dir), *_recording_flags(exported), "--out", str(tmp_path / "afile")])


def _fake_sequence(transl_pv: np.ndarray, pv2scene: np.ndarray, scene_frame: str = "scene"):
    """A `SequenceResult` of N frames with 2 samples of 4 vertices / 24 joints, all at each frame's translation."""
    from egohmr.pipeline.core import EgoHMRResult
    from egohmr.pipeline.sequence import SequenceResult

    eye = np.eye(3, dtype=np.float32)
    results = []
    for t in transl_pv.astype(np.float32):
        results.append(
            EgoHMRResult(
                betas=np.zeros((2, 10), np.float32), global_orient_rotmat_pv=np.tile(eye, (2, 1, 1)),
                body_pose_rotmat=np.tile(eye, (2, 23, 1, 1)), transl_pv=t,
                vertices_pv=np.tile(t, (2, 4, 1)), joints_pv=np.tile(t, (2, 24, 1)), faces=np.array([[0, 1, 2]]),
                scene_points_pv=np.zeros((0, 3), np.float32), visibility=np.ones(24, bool), visibility_source="bbox",
                bbox_center_px=np.zeros(2), bbox_size_px=1.0, stage1_joints_pv=np.zeros((24, 3), np.float32),
                seconds={},
            )
        )  # fmt: skip
    n = len(transl_pv)
    frames = tuple(
        SimpleNamespace(name=f"f{i}", image_path=Path(f"f{i}.jpg"), intrinsics=(1, 1, 0, 0), bbox_px=(0, 0, 1, 1))
        for i in range(n)
    )
    return SequenceResult(frames, tuple(results), pv2scene, scene_frame, False, np.zeros((n, 3)))


def test_smoothing_averages_the_mode_translation_in_the_scene_frame():
    from egohmr.pipeline.sequence import smooth_mode_translation

    rng = np.random.default_rng(0)
    n = 7
    pv2scene = np.tile(np.eye(4), (n, 1, 1))
    pv2scene[:, :3, 3] = rng.normal(size=(n, 3))  # a moving camera
    pv2scene[:, :3, :3] = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]])  # turned 90 degrees about y
    transl_scene = np.array([[0.0, 0, i] for i in range(n)])
    transl_scene[3, 1] = 0.5  # one outlier in height
    world2pv = np.linalg.inv(pv2scene)
    transl_pv = np.einsum("nij,nj->ni", world2pv[:, :3, :3], transl_scene) + world2pv[:, :3, 3]
    seq = smooth_mode_translation(_fake_sequence(transl_pv, pv2scene))
    arrays = seq.arrays()
    mode_scene = arrays["transl_scene"][:, 0]
    np.testing.assert_allclose(mode_scene[:, 2], np.arange(n), atol=1e-5)  # a straight walk stays straight
    np.testing.assert_allclose(mode_scene[1:6, 1], [0, 0.1, 0.1, 0.1, 0], atol=1e-5)  # centred, 5 (3 near ends)
    np.testing.assert_allclose(arrays["transl_scene"][:, 1], transl_scene, atol=1e-5)  # other samples untouched
    np.testing.assert_allclose(arrays["joints_scene"][:, 0, 5], mode_scene, atol=1e-5)  # joints moved with it
    np.testing.assert_allclose(arrays["stage1_transl_pv"], transl_pv, atol=1e-5)


def test_without_poses_the_scene_frame_is_the_camera_frame():
    transl_pv = np.array([[0.1, 0.2, 2.0], [0.2, 0.2, 2.1]])
    arrays = _fake_sequence(transl_pv, np.tile(np.eye(4), (2, 1, 1)), scene_frame="camera").arrays()
    np.testing.assert_array_equal(arrays["vertices_scene"], arrays["vertices_pv"])


@pytest.mark.parametrize(
    ("sources", "bodies", "expected"),
    [
        (("a.pt (egohmr stage-1 inference checkpoint)", "b.pt (egohmr stage-2 inference checkpoint)"),
         ("open-lowres", "open-lowres"), ["stage1", "stage2"]),
        (("best_model.pt (official-stage1)", "b.pt (egohmr stage-2 checkpoint)"), ("data/smpl", "open"), ["stage2"]),
        (("best_model.pt (official-stage1)", "m.pt (official-stage2)"), ("data/smpl", "data/smpl"), []),
    ],
)  # fmt: skip
def test_training_domain_rule(sources, bodies, expected):
    from egohmr.pipeline.domain import synthetic_stages, training_domain_note

    models = SimpleNamespace(
        sources={"stage1": sources[0], "stage2": sources[1]},
        stage1_cfg=SimpleNamespace(model=SimpleNamespace(body_model=bodies[0])),
        stage2_cfg=SimpleNamespace(model=SimpleNamespace(body_source=bodies[1])),
    )
    assert synthetic_stages(models) == expected
    assert (training_domain_note(models) is None) == (not expected)


def test_second_infer_into_a_folder_being_written_stops_with_the_holder(tmp_path, capsys):
    """A lock file stops two jobs writing one folder at once; the error names the folder and the holder's pid."""
    import os

    from egohmr.cli.infer import claim_infer_folder
    from egohmr.cli.main import main
    from egohmr.jobs import folder_lock

    out = tmp_path / "out"
    claim_infer_folder(out)  # what the first run does before it locks the folder
    with folder_lock(out):
        code = main(
            ["infer", "--frames", str(tmp_path / "frames"), "--scene", str(tmp_path / "room.obj"), "--out", str(out)]
        )
    assert code == 2
    assert f"{out} is being written by another job (pid {os.getpid()}" in capsys.readouterr().err
