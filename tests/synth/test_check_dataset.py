"""`check_dataset` on corrupted copies of a tiny synthetic dataset: each corruption gives the exact finding (file,
field, frame); the clean dataset passes in full and quick mode."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from egohmr.data import egobody_format as fmt
from egohmr.synth.checks import check_dataset
from egohmr.synth.generate import SynthConfig, generate_dataset
from tests.synth import synth_body_source

W, H = 192, 108
SPLIT = "train"
NPZ = f"annotation_egocentric_smpl_npz/egocapture_{SPLIT}_smpl.npz"


@pytest.fixture(scope="session")
def clean(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("check") / "ds"
    config = SynthConfig(
        out=out,
        seed=3,
        num_scenes=1,
        num_recordings=2,
        num_frames=8,
        width=W,
        height=H,
        body_source=synth_body_source(),
    )
    generate_dataset(config)
    return out


@pytest.fixture
def ds(clean, tmp_path) -> Path:
    copy = tmp_path / "ds"
    shutil.copytree(clean, copy)
    return copy


def _edit_annotation(root: Path, edit) -> dict[str, np.ndarray]:
    data = fmt.read_annotation_npz(fmt.annotation_path(root, SPLIT))
    edit(data)
    fmt.write_annotation_npz(fmt.annotation_path(root, SPLIT), data)
    return data


def _findings(root: Path, **kwargs) -> set[tuple[str, str]]:
    return {(i.file, i.field) for i in check_dataset(root, **kwargs).issues}


def _message(root: Path, file: str, field: str, **kwargs) -> str:
    report = check_dataset(root, **kwargs)
    matches = [i.message for i in report.issues if (i.file, i.field) == (file, field)]
    assert matches, [str(i) for i in report.issues]
    return matches[0]


def _first_frame(root: Path) -> str:
    return str(fmt.read_annotation_npz(fmt.annotation_path(root, SPLIT))["imgname"][0])


def test_clean_dataset_passes_full_quick_and_open_stand_in(clean):
    for kwargs in ({}, {"quick": True}, {"body_source": synth_body_source()}):
        report = check_dataset(clean, **kwargs)
        assert report.ok, [str(i) for i in report.issues]
        assert report.frames == 8


def test_translation_offset(ds):
    _edit_annotation(ds, lambda d: d["transl_pv"].__iadd__(np.float32(0.2)))
    message = _message(ds, NPZ, "transl_pv", body_source=synth_body_source())
    assert "pelvis" in message and _first_frame(ds) in message


def test_global_orientation_in_another_frame(ds):
    _edit_annotation(
        ds, lambda d: d["global_orient_pv"].__setitem__(slice(None), d["global_orient_pv"] + [np.pi / 2, 0, 0])
    )
    message = _message(ds, NPZ, "global_orient_pv")  # the open body stand-in catches it too
    assert "another frame" in message and _first_frame(ds) in message


def test_scaled_joints(ds):
    _edit_annotation(ds, lambda d: d["3d_joints_pv"].__imul__(np.float32(1.2)))
    assert "another size" in _message(ds, NPZ, "3d_joints_pv", body_source=synth_body_source())


def test_keypoints_offset_by_a_few_pixels(ds):
    _edit_annotation(ds, lambda d: d["valid_keypoints"][..., 0].__iadd__(np.float32(5.0)))
    message = _message(ds, NPZ, "valid_keypoints")
    assert "offset from the projected" in message and "largest on egocentric_color/" in message


def test_box_centre_and_scale(ds):
    def edit(d):
        d["center"][1] += d["scale"][1] * 200
        d["scale"][2] *= 4

    data = _edit_annotation(ds, edit)
    assert str(data["imgname"][1]) in _message(ds, NPZ, "center")
    assert str(data["imgname"][2]) in _message(ds, NPZ, "scale")


def test_displaced_scene_mesh(ds):
    (mesh,) = (ds / "scene_mesh").rglob("*.obj")
    lines = mesh.read_text().splitlines()
    moved = [
        f"v {x} {float(y) - 0.6} {z}" + (" " + " ".join(rest) if rest else "")
        for x, y, z, *rest in (ln.split()[1:] for ln in lines if ln.startswith("v "))
    ]
    mesh.write_text("\n".join(moved + [ln for ln in lines if not ln.startswith("v ")]) + "\n")
    message = _message(ds, NPZ, "3d_joints_pv")
    assert "floats" in message and "kinect12_to_world" in message


def test_wrong_kinect_to_scene_lifts_the_body(ds):
    path = next((ds / "calibrations").rglob("*.json"))
    data = json.loads(path.read_text())
    data["trans"][1][3] += 0.5  # the Kinect 0.5 m higher in the scene: its bodies float
    path.write_text(json.dumps(data))
    assert any("floats 0.5" in i.message for i in check_dataset(ds).issues if i.field == "3d_joints_pv")


def test_camera_not_upright(ds):
    path = fmt.transf_matrices_path(ds)
    data = pickle.loads(path.read_bytes())
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])  # the PV camera upside down about its optical axis
    for entry in data.values():
        entry["trans_world2pv"] = {ts: flip @ m for ts, m in entry["trans_world2pv"].items()}
    path.write_bytes(pickle.dumps(data))
    message = _message(ds, fmt.TRANSF_FILE, "trans_world2pv")
    assert "not upright" in message and "egocentric_color/" in message


def test_images_truncated_not_jpeg_and_resized(ds):
    from PIL import Image

    names = fmt.read_annotation_npz(fmt.annotation_path(ds, SPLIT))["imgname"]
    first, second, third = (ds / str(n) for n in names[:3])
    first.write_bytes(first.read_bytes()[: first.stat().st_size // 2])
    Image.new("RGB", (W, H)).save(second, format="PNG")
    Image.new("RGB", (W // 2, H // 2)).save(third, format="JPEG")
    messages = [i.message for i in check_dataset(ds).issues if (i.file, i.field) == (NPZ, "imgname")]
    assert any("truncated" in m and str(names[0]) in m for m in messages)
    assert any("not a JPEG" in m and str(names[1]) in m for m in messages)
    assert str(names[2]) in _message(ds, NPZ, "cx")


@pytest.mark.parametrize(
    ("content", "field", "text"),
    [(b"", "", "0 bytes"), (b"f 1 2 3\n", "v", "no vertex"), (b"v 0 nan 0\nv 1 1 1\n", "v", "NaN")],
)
def test_broken_scene_mesh(ds, content, field, text):
    (mesh,) = (ds / "scene_mesh").rglob("*.obj")
    mesh.write_bytes(content)
    assert text in _message(ds, str(mesh.relative_to(ds)), field)


def test_empty_train_split(ds):
    _edit_annotation(ds, lambda d: d.update({k: v[:0] for k, v in d.items()}))
    assert "split train is empty" in _message(ds, NPZ, "imgname", quick=True)


def test_dtypes_and_key_types(ds):
    def edit(d):
        d["fx"] = d["fx"].astype(np.int64)
        d["imgname"] = d["imgname"].astype(bytes)

    _edit_annotation(ds, edit)
    assert "dtype int64" in _message(ds, NPZ, "fx", quick=True)
    assert "official files store str" in _message(ds, NPZ, "imgname", quick=True)
    path = fmt.transf_matrices_path(ds)
    data = pickle.loads(path.read_bytes())
    rec = sorted(data)[0]
    data[rec]["trans_world2pv"] = {int(ts): m for ts, m in data[rec]["trans_world2pv"].items()}
    path.write_bytes(pickle.dumps(data))
    assert "must be str" in _message(ds, fmt.TRANSF_FILE, f"{rec}/trans_world2pv", quick=True)


def test_nan_names_the_frame(ds):
    data = _edit_annotation(ds, lambda d: d["transl_pv"].__setitem__((3, 1), np.nan))
    assert str(data["imgname"][3]) in _message(ds, NPZ, "transl_pv", quick=True)
