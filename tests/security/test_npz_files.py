"""npz files with object members (pickles): annotation npz (object members read through the allow-list) and frame
records (object members refused); legitimate string object arrays of older annotation files still load."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from egohmr.data.egobody_format import read_annotation_npz
from egohmr.outputs.frame_record import load_frame_record
from egohmr.safe_load import UnsafeFileError
from tests.security.payloads import PAYLOADS, PROTOCOLS, Payload, assert_refused


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False)
    return buf.getvalue()


def _object_member(pickled: bytes, shape: tuple[int, ...]) -> bytes:
    """A `.npy` member of object dtype whose data is `pickled` (what `np.save` writes for object arrays)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": shape})
    return buf.getvalue() + pickled


def _write_npz(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for key, content in members.items():
            zf.writestr(f"{key}.npy", content)
    return path


def _annotation(path: Path, imgname_member: bytes) -> Path:
    return _write_npz(path, {"imgname": imgname_member, "scale": _npy_bytes(np.ones(2))})


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.id)
def test_annotation_npz_refuses_object_payloads(tmp_path, payload: Payload, protocol: int):
    marker = tmp_path / "marker"
    evil = np.empty(2, dtype=object)
    evil[:] = [payload.build(marker), "x"]
    path = _annotation(tmp_path / "egocapture_test_smpl.npz", _object_member(pickle.dumps(evil, protocol), (2,)))
    with pytest.raises(UnsafeFileError) as info:
        read_annotation_npz(path)
    assert_refused(info.value, path, payload.refused, marker)
    assert "'imgname'" in str(info.value)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_annotation_npz_with_string_object_array_loads(tmp_path, protocol: int):
    names = np.array(["egocentric_color/rec/t/PV/1_frame_00001.jpg", "b"], dtype=object)
    path = _annotation(tmp_path / "old.npz", _object_member(pickle.dumps(names, protocol), (2,)))
    data = read_annotation_npz(path)
    assert data["imgname"].dtype.kind == "U" and data["imgname"].tolist() == names.tolist()
    np.testing.assert_array_equal(data["scale"], np.ones(2))


def test_annotation_npz_written_by_numpy_with_objects_loads(tmp_path):
    path = tmp_path / "savez.npz"
    np.savez(path, imgname=np.array(["a", "b"], dtype=object), gender=np.array(["m", "f"]))
    data = read_annotation_npz(path)
    assert data["imgname"].tolist() == ["a", "b"] and data["gender"].tolist() == ["m", "f"]


def _frame_record(path: Path, name_member: bytes) -> Path:
    arrays: dict[str, Any] = {
        "format_version": np.array(1),
        "intrinsics_px": np.ones(4),
        "bbox_px": np.array([0.0, 0.0, 2.0, 2.0]),
        "pred_vertices_pv": np.zeros((1, 2, 3)),
        "faces": np.zeros((1, 3), np.int64),
        "image_path": np.array("frame_1.jpg"),
    }
    return _write_npz(path, {"name": name_member, **{k: _npy_bytes(v) for k, v in arrays.items()}})


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.id)
def test_frame_record_refuses_object_members(tmp_path, payload: Payload, protocol: int):
    marker = tmp_path / "marker"
    path = _frame_record(tmp_path / "frame.npz", _object_member(pickle.dumps(payload.build(marker), protocol), ()))
    with pytest.raises(UnsafeFileError) as info:
        load_frame_record(path)
    assert str(path) in str(info.value) and "'name.npy'" in str(info.value)
    assert not marker.exists()


def test_frame_record_without_objects_still_loads(tmp_path):
    path = _frame_record(tmp_path / "frame.npz", _npy_bytes(np.array("frame_1")))
    assert load_frame_record(path).name == "frame_1"


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.id)
def test_sequence_results_refuse_object_members(tmp_path, payload: Payload):
    from egohmr.outputs.sequence_viewer import load_sequence_scene

    marker = tmp_path / "marker"
    member = _object_member(pickle.dumps(payload.build(marker), PROTOCOLS[-1]), ())
    path = _write_npz(tmp_path / "sequence_a_run01.npz", {"metadata_json": member})
    with pytest.raises(UnsafeFileError) as info:
        load_sequence_scene(path)
    assert str(path) in str(info.value) and "'metadata_json.npy'" in str(info.value)
    assert not marker.exists()
