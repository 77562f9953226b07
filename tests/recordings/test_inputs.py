"""Frames, keypoint files, boxes, intrinsics and poses: accepted forms and the errors of bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from egohmr.recordings.frames import image_size, list_frames
from egohmr.recordings.intrinsics import intrinsics_from_fov, resolve_intrinsics
from egohmr.recordings.keypoint_maps import op25_to_coco
from egohmr.recordings.keypoints import check_keypoints_in_image, read_keypoints
from egohmr.recordings.poses import read_world2pv
from tests.recordings.helpers import H, W, person_op25, write_frames, write_json, write_openpose


def _rigid(yaw: float, t) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    T = np.eye(4)
    T[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    T[:3, 3] = t
    return T


# ----------------------------------------------------------------------------------------------------------- frames
def test_frames_sorted_by_name_with_numbers_by_value(tmp_path):
    write_frames(tmp_path / "f", ["10", "2", "1"])
    (tmp_path / "f" / "notes.txt").write_text("ignored")
    frames = list_frames(tmp_path / "f")
    assert [f.name for f in frames] == ["1", "2", "10"]
    assert frames[0].path == tmp_path / "f" / "1.png"
    assert list_frames(frames[2].path) == [frames[2]]


def test_missing_frames_and_videos_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list_frames(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no jpg/jpeg/png image in folder .*empty"):
        list_frames(tmp_path / "empty")
    (tmp_path / "clip.mp4").write_bytes(b"\0")
    with pytest.raises(ValueError, match=r"clip\.mp4 is a video.*ffmpeg"):
        list_frames(tmp_path / "clip.mp4")
    write_frames(tmp_path / "dup", ["a"])
    (tmp_path / "dup" / "a.jpg").write_bytes((tmp_path / "dup" / "a.png").read_bytes())
    with pytest.raises(ValueError, match="same frame name 'a'"):
        list_frames(tmp_path / "dup")
    (tmp_path / "zero.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"zero\.jpg is empty \(0 bytes\)"):
        image_size(list_frames(tmp_path / "zero.jpg")[0].path)


# -------------------------------------------------------------------------------------------------------- keypoints
def test_openpose_folder_both_file_names_and_missing_frame(tmp_path):
    frames = list_frames(write_frames(tmp_path / "f", ["a", "b"]))
    write_openpose(tmp_path / "op", "a", [person_op25(1, 2, 30, 40), person_op25(5, 5, 9, 9)])
    write_json(tmp_path / "op" / "b.json", {"people": []})
    table = read_keypoints(tmp_path / "op", frames)
    assert table["a"].people_op25.shape == (2, 25, 3) and table["b"].people_op25.shape == (0, 25, 3)
    (tmp_path / "op" / "b.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"frame 'b'.*b_keypoints\.json and b\.json"):
        read_keypoints(tmp_path / "op", frames)


def test_openpose_wrong_count_names_file_and_field(tmp_path):
    frames = list_frames(write_frames(tmp_path / "f", ["a"]))
    path = write_json(tmp_path / "a.json", {"people": [{"pose_keypoints_2d": [1.0] * 54}]})
    with pytest.raises(ValueError, match=r"a\.json: people\[0\]\.pose_keypoints_2d.*expected 75.*got 54"):
        read_keypoints(path, frames)


def test_coco_results_and_dataset_match_frames(tmp_path):
    frames = list_frames(write_frames(tmp_path / "f", ["000007", "000008"]))
    kp = person_op25(3, 4, 40, 44)
    coco = op25_to_coco(kp).reshape(-1).tolist()
    # Results list: integer image_id = numeric frame stem; other images and categories ignored.
    results = [
        {"image_id": 7, "category_id": 1, "keypoints": coco},
        {"image_id": 99, "category_id": 1, "keypoints": coco},
        {"image_id": 8, "category_id": 2, "keypoints": coco},
    ]
    table = read_keypoints(write_json(tmp_path / "res.json", results), frames)
    assert len(table["000007"].people_op25) == 1 and len(table["000008"].people_op25) == 0
    # Dataset with separate WholeBody feet.
    wb = op25_to_coco(kp, wholebody=True)
    images = [{"id": 1, "file_name": "imgs/000008.png", "width": W, "height": H}]
    ann = [{"image_id": 1, "keypoints": wb[:17].reshape(-1).tolist(), "foot_kpts": wb[17:23].reshape(-1).tolist()}]
    table = read_keypoints(write_json(tmp_path / "ds.json", {"images": images, "annotations": ann}), frames)
    np.testing.assert_allclose(table["000008"].people_op25[0][19:], kp[19:])  # feet read
    assert table["000008"].image_size == (W, H)
    with pytest.raises(ValueError, match="no entry of .*none.json matches a frame"):
        read_keypoints(write_json(tmp_path / "none.json", results[1:2]), frames)


def test_keypoints_for_another_image_size_are_refused(tmp_path):
    frames = list_frames(write_frames(tmp_path / "f", ["a"]))
    big = person_op25(0, 0, 2 * W - 1, 2 * H - 1)  # computed on images twice as large
    write_openpose(tmp_path / "op", "a", [big])
    kp = read_keypoints(tmp_path / "op", frames)["a"]
    with pytest.raises(ValueError, match=r"a_keypoints\.json.*frame 'a' lie outside its 64x48 px image.*another size"):
        check_keypoints_in_image(kp, W, H, "a")
    images = [{"id": 1, "file_name": "a.png", "width": 1920, "height": 1080}]
    ann = [{"image_id": 1, "keypoints": op25_to_coco(person_op25(1, 1, 9, 9)).reshape(-1).tolist()}]
    kp = read_keypoints(write_json(tmp_path / "ds.json", {"images": images, "annotations": ann}), frames)["a"]
    with pytest.raises(ValueError, match=r"ds\.json .* is for a 1920x1080 image but frame 'a' is 64x48"):
        check_keypoints_in_image(kp, W, H, "a")


# -------------------------------------------------------------------------------------------------------- intrinsics
def test_intrinsics_forms_and_fov_default(tmp_path):
    frames = list_frames(write_frames(tmp_path / "f", ["a", "b"]))
    sizes = [(W, H)] * 2
    shared = write_json(tmp_path / "k.json", {"K": [[50, 0, 32], [0, 51, 24], [0, 0, 1]], "width": W, "height": H})
    assert resolve_intrinsics(shared, frames, sizes).per_frame == [(50, 51, 32, 24)] * 2
    per_frame = {
        "frames": {"a": {"fx": 50, "fy": 50, "cx": 30, "cy": 20}, "b.png": {"fx": 60, "fy": 60, "cx": 31, "cy": 21}}
    }
    got = resolve_intrinsics(write_json(tmp_path / "pf.json", per_frame), frames, sizes)
    assert got.per_frame == [(50, 50, 30, 20), (60, 60, 31, 21)] and not got.from_fov
    guessed = resolve_intrinsics(None, frames, sizes, fov_deg=90)
    assert guessed.from_fov and guessed.per_frame[0] == pytest.approx((32, 32, 32, 24))
    assert intrinsics_from_fov(60, 1920, 1080)[0] == pytest.approx(960 / np.tan(np.radians(30)))


def test_bad_intrinsics_name_file_frame_and_field(tmp_path):
    frames = list_frames(write_frames(tmp_path / "f", ["a", "b"]))
    sizes = [(W, H)] * 2
    other_size = write_json(
        tmp_path / "s.json", {"fx": 50, "fy": 50, "cx": 32, "cy": 24, "width": 1920, "height": 1080}
    )
    with pytest.raises(ValueError, match=r"s\.json \(frame 'a'\): intrinsics for a 1920x1080 image, .* 64x48"):
        resolve_intrinsics(other_size, frames, sizes)
    missing = write_json(tmp_path / "m.json", {"frames": {"a": {"fx": 50, "fy": 50, "cx": 32, "cy": 24}}})
    with pytest.raises(ValueError, match=r"m\.json: frames has no entry for frame 'b'"):
        resolve_intrinsics(missing, frames, sizes)
    no_cy = write_json(tmp_path / "c.json", {"fx": 50, "fy": 50, "cx": 32})
    with pytest.raises(ValueError, match=r"c\.json.*fields \['cy'\] missing"):
        resolve_intrinsics(no_cy, frames, sizes)
    with pytest.raises(ValueError, match="fx = 0.05 px is implausible"):
        resolve_intrinsics([0.05, 0.05, 32, 24], frames, sizes)


# ------------------------------------------------------------------------------------------------------------- poses
def test_poses_are_inverted_and_opengl_axes_converted(tmp_path):
    frames = list_frames(write_frames(tmp_path / "f", ["a", "b"]))
    cam2scene = [_rigid(0.3, [1, 1.6, 2]), _rigid(-1.0, [0, 1.5, 0])]
    by_name = write_json(tmp_path / "p.json", {"a": cam2scene[0].tolist(), "b.png": cam2scene[1].tolist()})
    for world2pv in (read_world2pv(by_name, frames), read_world2pv([m.tolist() for m in cam2scene], frames)):
        for T, C in zip(world2pv, cam2scene, strict=True):
            np.testing.assert_allclose(T @ C, np.eye(4), atol=1e-12)
    gl = write_json(tmp_path / "gl.json", {"axes": "opengl", "camera_to_scene": [m.tolist() for m in cam2scene]})
    point_in_front_cv = np.array([0, 0, 2.0, 1])  # 2 m along the OpenCV camera's +z = OpenGL camera's -z
    scene_point = cam2scene[0] @ np.diag([1, -1, -1, 1]) @ point_in_front_cv
    np.testing.assert_allclose(read_world2pv(gl, frames)[0] @ scene_point, point_in_front_cv, atol=1e-12)


def test_non_rigid_or_missing_poses_are_refused(tmp_path):
    frames = list_frames(write_frames(tmp_path / "f", ["a", "b"]))
    scaled = _rigid(0.2, [0, 1, 0])
    scaled[:3, :3] *= 1.01
    bad = write_json(tmp_path / "bad.json", {"a": np.eye(4).tolist(), "b": scaled.tolist()})
    with pytest.raises(ValueError, match=r"bad\.json \(frame 'b'\): not a rigid pose"):
        read_world2pv(bad, frames)
    mirror = np.diag([1.0, 1, -1, 1])
    with pytest.raises(ValueError, match=r"frame 'a'.*det = -1"):
        read_world2pv([mirror, np.eye(4)], frames)
    last_row = np.eye(4)
    last_row[3, 0] = 0.5
    with pytest.raises(ValueError, match=r"frame 'b'.*last row must be 0 0 0 1"):
        read_world2pv([np.eye(4), last_row], frames)
    with pytest.raises(ValueError, match="no pose for frame 'b'"):
        read_world2pv({"a": np.eye(4)}, frames)
    with pytest.raises(ValueError, match="1 poses for 2 frames"):
        read_world2pv([np.eye(4)], frames)
