"""`load_recording` end to end: a synthetic EgoBody recording exported to the user formats and read back, and the
refusals of whole recordings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from egohmr.data import egobody_format as fmt
from egohmr.data.scene_points import read_obj_vertices
from egohmr.recordings import load_recording
from egohmr.recordings.export import export_egobody_recording, recording_annotation
from egohmr.recordings.person import box_center_scale
from egohmr.synth.generate import SynthConfig, generate_dataset
from tests.recordings.helpers import person_op25, write_frames, write_json, write_obj, write_openpose
from tests.synth import synth_body_source

FLOOR_V = np.array([[-5, 0, -5], [5, 0, -5], [5, 0, 5], [-5, 0, 5]], dtype=np.float64)
FLOOR_F = np.array([[0, 2, 1], [0, 3, 2]])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One 8-frame synthetic recording (192 x 108, a room of big quads) in the user formats, with its dataset root."""
    root = tmp_path_factory.mktemp("recordings")
    cfg = SynthConfig(
        out=root / "ds",
        seed=3,
        num_scenes=1,
        num_recordings=1,
        num_frames=8,
        width=192,
        height=108,
        workers=1,
        scene_max_edge_m=100.0,  # the procedural room as it is: a few big quads
        body_source=synth_body_source(),
    )
    generate_dataset(cfg)
    return root / "ds", export_egobody_recording(root / "ds", root / "user")


def test_exported_recording_reads_back_as_the_annotation(exported):
    root, ex = exported
    ann = recording_annotation(root, ex.recording)
    rec = load_recording(
        ex.frames_dir, ex.openpose_dir, scene=ex.scene_obj, intrinsics=ex.intrinsics_json, poses=ex.poses_json
    )
    assert len(rec.frames) == ex.num_frames == 8 and not rec.skipped_frames
    assert not rec.scene_in_camera_frame and not rec.intrinsics_from_fov
    assert [f.name for f in rec.frames] == [Path(n).stem for n in ann["imgname"]]
    for i, frame in enumerate(rec.frames):
        vis = ann["valid_keypoints"][i][:, 2] > 0
        assert vis.sum() >= 2  # the annotation's box then comes from the keypoints too
        center, scale = box_center_scale(frame.bbox_px)
        np.testing.assert_allclose(center, ann["center"][i], atol=1e-3)
        assert scale == pytest.approx(float(ann["scale"][i]), abs=1e-5)
        np.testing.assert_allclose(frame.intrinsics, [ann[k][i] for k in ("fx", "fy", "cx", "cy")], rtol=1e-6)
        assert frame.visibility_source == "keypoints" and frame.num_people == 1
        np.testing.assert_array_equal(frame.keypoints_op25[:, 2] > 0, vis)
        np.testing.assert_array_equal(frame.visibility_smpl24(loosen=False)[[4, 7]], vis[[13, 14]])  # knee, ankle
    # The poses put the GT body where the scene is: the lowest joint stands on the floor (y = 0, scene frame).
    for i, frame in enumerate(rec.frames):
        pv2scene = np.linalg.inv(frame.world2pv)
        joints_scene = ann["3d_joints_pv"][i][:24] @ pv2scene[:3, :3].T + pv2scene[:3, 3]
        assert 0.0 < joints_scene[:, 1].min() < 0.15


def test_coco_and_egobody_pose_files_give_the_same_recording(exported, tmp_path):
    root, ex = exported
    scene_points = tmp_path / "room_points.npy"  # the room's vertices: no surface sampling, a fast test
    np.save(scene_points, read_obj_vertices(ex.scene_obj))
    common = dict(scene=scene_points, intrinsics=ex.intrinsics_json)
    rec = load_recording(ex.frames_dir, ex.openpose_dir, poses=ex.poses_json, **common)
    scene_name = fmt.recording_to_scene(fmt.data_info_path(root))[ex.recording]
    wholebody = load_recording(ex.frames_dir, ex.coco_wholebody_json, poses=ex.poses_json, **common)
    coco17 = load_recording(ex.frames_dir, ex.coco17_json, **common)
    pkl = load_recording(
        ex.frames_dir,
        ex.openpose_dir,
        poses=fmt.transf_matrices_path(root),
        recording=ex.recording,
        kinect2scene=fmt.kinect2scene_path(root, ex.recording, scene_name),
        **common,
    )
    same = [0, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]  # BODY_25 joints with a COCO-17 twin
    for a, b, c, d in zip(rec.frames, wholebody.frames, coco17.frames, pkl.frames, strict=True):
        np.testing.assert_allclose(
            b.keypoints_op25[same + list(range(19, 25))], a.keypoints_op25[same + list(range(19, 25))]
        )
        np.testing.assert_array_equal(c.keypoints_op25[same, 2] > 0, a.keypoints_op25[same, 2] > 0)
        np.testing.assert_allclose(c.keypoints_op25[same, :2], a.keypoints_op25[same, :2], atol=1e-4)
        # Boxes of derived Neck/MidHip and missing feet lie within the OpenPose box.
        for box in (b.bbox_px, c.bbox_px):
            assert box[0] >= a.bbox_px[0] - 1e-6 and box[2] <= a.bbox_px[2] + 1e-6
        np.testing.assert_allclose(d.world2pv, a.world2pv, atol=1e-9)
    assert coco17.scene_in_camera_frame and any("no camera poses" in n for n in coco17.notes)


def test_box_only_recording_and_fov_guess(tmp_path):
    write_frames(tmp_path / "f", ["0", "1"])
    write_obj(tmp_path / "floor.obj", FLOOR_V, FLOOR_F)
    boxes = write_json(tmp_path / "boxes.json", {"0": [5, 5, 30, 40]})  # frame 1 has no box
    rec = load_recording(tmp_path / "f", scene=tmp_path / "floor.obj", bbox=boxes, fov_deg=70)
    assert [f.name for f in rec.frames] == ["0"] and rec.skipped_frames == ("1",)
    assert rec.frames[0].visibility_source == "bbox" and rec.frames[0].keypoints_op25 is None
    assert rec.frames[0].visibility_smpl24(loosen=True) is None
    assert rec.intrinsics_from_fov and any("field of view" in n for n in rec.notes)
    assert rec.frames[0].world2pv is None and rec.scene.kind == "mesh"


def test_several_people_reported_and_whole_recording_refusals(tmp_path):
    write_frames(tmp_path / "f", ["0"])
    write_obj(tmp_path / "floor.obj", FLOOR_V, FLOOR_F)
    write_openpose(tmp_path / "op", "0", [person_op25(1, 1, 10, 12), person_op25(20, 5, 60, 45)])
    rec = load_recording(tmp_path / "f", tmp_path / "op", scene=tmp_path / "floor.obj")
    assert rec.frames[0].num_people == 2 and rec.frames[0].bbox_px == pytest.approx((20, 5, 60, 45))
    assert any("several people" in n for n in rec.notes)
    with pytest.raises(ValueError, match="give 2D keypoints or a bbox"):
        load_recording(tmp_path / "f", scene=tmp_path / "floor.obj")
    write_openpose(tmp_path / "empty", "0", [])
    with pytest.raises(ValueError, match="no frame of .* has a usable person"):
        load_recording(tmp_path / "f", tmp_path / "empty", scene=tmp_path / "floor.obj")
    poses = write_json(tmp_path / "far.json", {"0": [[1, 0, 0, 50], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]})
    far = load_recording(tmp_path / "f", tmp_path / "op", scene=tmp_path / "floor.obj", poses=poses)
    assert any("outside the scene's bounding box" in n for n in far.notes)
    assert json.loads(poses.read_text())  # the file is untouched


def test_z_up_scene_is_turned_y_up_with_its_poses(tmp_path):
    write_frames(tmp_path / "f", ["0"])
    floor_z_up = FLOOR_V[:, [0, 2, 1]]  # the floor in the xy plane
    write_obj(tmp_path / "floor_z.obj", floor_z_up, FLOOR_F)
    write_openpose(tmp_path / "op", "0", [person_op25(1, 1, 30, 40)])
    cam2scene = np.eye(4)
    cam2scene[:3, 3] = (0.5, -2.0, 1.6)  # 1.6 m above a z-up floor
    common = dict(scene=tmp_path / "floor_z.obj", poses={"0": cam2scene})
    as_is = load_recording(tmp_path / "f", tmp_path / "op", **common)
    turned = load_recording(tmp_path / "f", tmp_path / "op", up_axis="z", **common)
    assert np.abs(turned.scene.points_scene[:, 1]).max() < 1e-9  # the floor is now y = 0
    camera_y = np.linalg.inv(turned.frames[0].world2pv)[1, 3]
    assert camera_y == pytest.approx(1.6)

    # The same scene points land at the same camera-frame positions.
    def to_pv(rec):
        T = rec.frames[0].world2pv
        return rec.scene.points_scene @ T[:3, :3].T + T[:3, 3]

    np.testing.assert_allclose(to_pv(turned), to_pv(as_is), atol=1e-9)
