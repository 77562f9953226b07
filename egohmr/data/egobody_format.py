"""The official EgoBody on-disk layout: path builders, low-level readers and writers.

Facts: `../shared/spec/reference-egohmr.md` section 4. A dataset root holds::

    scene_mesh/<scene>/<scene>.obj                                    scene mesh, y-up scene frame
    calibrations/<recording>/cal_trans/kinect12_to_world/<scene>.json {"trans": 4x4} master Kinect -> scene
    kinect_cam_params/kinect_master/Color.json                        {"f": [fx, fy], "c": [cx, cy], ...}
    transf_matrices_all_seqs.pkl                                      {recording: {"trans_kinect2holo": 4x4,
                                                                        "trans_world2pv": {timestamp: 4x4}}}
    data_info_release.csv                                             recording_name, scene_name, body_idx_fpv, ...
    egocentric_color/<recording>/<holo_time>/PV/<timestamp>_frame_XXXXX.jpg
    annotation_egocentric_smpl_npz/egocapture_{train,val,test}_smpl.npz

Transform chain (column vectors): ``P_pv = ADD_TRANS @ world2pv @ kinect2holo @ inv(kinect2scene) @ P_scene`` where
``kinect2scene`` is the ``kinect12_to_world`` json and ``ADD_TRANS = diag(1, -1, -1, 1)`` turns the HoloLens
(OpenGL) PV axes into OpenCV axes. Everything here is numpy; no torch.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from egohmr.geometry.frames import HOLO_TO_OPENCV
from egohmr.safe_load import NUMPY_DATA, load_npz, load_pickle

SPLITS: tuple[str, ...] = ("train", "val", "test")

# HoloLens PV (OpenGL axes) -> OpenCV axes; the official `add_trans`.
ADD_TRANS: np.ndarray = np.array(HOLO_TO_OPENCV, dtype=np.float64)
ADD_TRANS.setflags(write=False)

# Per-frame fields of the annotation npz: name -> (per-frame shape, numpy dtype kind). `None` in a shape means
# "at least this many" for `3d_joints_pv` (checked by `min_joints`).
ANNOTATION_FIELDS: dict[str, tuple[tuple[int, ...], str]] = {
    "imgname": ((), "U"),
    "center": ((2,), "f"),
    "scale": ((), "f"),
    "pose": ((69,), "f"),
    "shape": ((10,), "f"),
    "global_orient_pv": ((3,), "f"),
    "transl_pv": ((3,), "f"),
    "fx": ((), "f"),
    "fy": ((), "f"),
    "cx": ((), "f"),
    "cy": ((), "f"),
    "valid_keypoints": ((25, 3), "f"),
    "3d_joints_pv": ((-1, 3), "f"),
    "gender": ((), "U"),
}
MIN_3D_JOINTS = 24
DATA_INFO_COLUMNS: tuple[str, ...] = (
    "recording_name",
    "start_frame",
    "end_frame",
    "body_idx_0",
    "body_idx_1",
    "body_idx_fpv",
    "scene_name",
)
TRANSF_FILE = "transf_matrices_all_seqs.pkl"
DATA_INFO_FILE = "data_info_release.csv"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip member dates: byte-identical npz files for identical arrays


# ----------------------------------------------------------------------------------------------------- paths
def scene_mesh_path(root: str | Path, scene: str) -> Path:
    """``<root>/scene_mesh/<scene>/<scene>.obj``."""
    return Path(root) / "scene_mesh" / scene / f"{scene}.obj"


def kinect2scene_path(root: str | Path, recording: str, scene: str) -> Path:
    """``<root>/calibrations/<recording>/cal_trans/kinect12_to_world/<scene>.json``."""
    return Path(root) / "calibrations" / recording / "cal_trans" / "kinect12_to_world" / f"{scene}.json"


def kinect_color_params_path(root: str | Path) -> Path:
    """``<root>/kinect_cam_params/kinect_master/Color.json``."""
    return Path(root) / "kinect_cam_params" / "kinect_master" / "Color.json"


def transf_matrices_path(root: str | Path) -> Path:
    """``<root>/transf_matrices_all_seqs.pkl``."""
    return Path(root) / TRANSF_FILE


def data_info_path(root: str | Path) -> Path:
    """``<root>/data_info_release.csv``."""
    return Path(root) / DATA_INFO_FILE


def annotation_path(root: str | Path, split: str) -> Path:
    """``<root>/annotation_egocentric_smpl_npz/egocapture_<split>_smpl.npz``."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {list(SPLITS)}")
    return Path(root) / "annotation_egocentric_smpl_npz" / f"egocapture_{split}_smpl.npz"


def image_relpath(recording: str, holo_time: str, timestamp: str, frame: int) -> str:
    """Relative image path as stored in the npz ``imgname`` field.

    ``egocentric_color/<recording>/<holo_time>/PV/<timestamp>_frame_<frame:05d>.jpg``.
    """
    return f"egocentric_color/{recording}/{holo_time}/PV/{timestamp}_frame_{frame:05d}.jpg"


@dataclass(frozen=True)
class ImageKey:
    """The parts of an ``imgname``: recording, HoloLens session time, PV timestamp string and frame number."""

    recording: str
    holo_time: str
    timestamp: str
    frame: int


def parse_imgname(imgname: str) -> ImageKey:
    """Split ``.../<recording>/<holo_time>/PV/<timestamp>_frame_XXXXX.jpg`` (the official loader uses
    ``split('/')[-4]`` for the recording and the basename prefix before ``_`` for the timestamp).

    Raises:
        ValueError: if the path does not have that form.
    """
    parts = str(imgname).replace("\\", "/").split("/")
    if len(parts) < 4 or parts[-2] != "PV":
        raise ValueError(f"imgname {imgname!r}: expected .../<recording>/<holo_time>/PV/<timestamp>_frame_XXXXX.jpg")
    base = parts[-1].rsplit(".", 1)[0]
    pieces = base.split("_")
    if len(pieces) < 3 or pieces[-2] != "frame" or not pieces[-1].isdigit():
        raise ValueError(f"imgname {imgname!r}: basename must be <timestamp>_frame_XXXXX.jpg")
    return ImageKey(recording=parts[-4], holo_time=parts[-3], timestamp=pieces[0], frame=int(pieces[-1]))


# ----------------------------------------------------------------------------------------------- transforms
def _as_rigid(value: object, where: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (4, 4):
        raise ValueError(f"{where}: expected a 4x4 matrix, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: matrix has NaN or inf")
    return arr


def write_kinect2scene(path: str | Path, kinect2scene: np.ndarray) -> None:
    """Write a ``kinect12_to_world`` json: ``{"trans": 4x4 list}`` (master Kinect colour camera -> scene mesh)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    trans = _as_rigid(kinect2scene, str(path)).tolist()
    path.write_text(json.dumps({"trans": trans}, indent=1))


def read_kinect2scene(path: str | Path) -> np.ndarray:
    """Read a ``kinect12_to_world`` json -> (4, 4) float64, master Kinect -> scene mesh frame.

    Raises:
        FileNotFoundError: no such file. ValueError: no ``trans`` field or not 4x4.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing calibration file {path}")
    data = json.loads(path.read_text())
    if "trans" not in data:
        raise ValueError(f"{path}: field 'trans' missing")
    return _as_rigid(data["trans"], f"{path}: field 'trans'")


def write_kinect_color_params(path: str | Path, f: Sequence[float], c: Sequence[float]) -> None:
    """Write ``Color.json`` of the master Kinect: focal ``f=[fx, fy]`` and centre ``c=[cx, cy]`` (px), no distortion."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"f": [float(v) for v in f], "c": [float(v) for v in c], "k": [0.0] * 6, "p": [0.0, 0.0]}
    path.write_text(json.dumps(data, indent=1))


def read_kinect_color_params(path: str | Path) -> dict[str, np.ndarray]:
    """Read ``Color.json`` -> ``{"f": (2,), "c": (2,)}`` float64 px (other keys passed through as arrays)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing Kinect colour parameters {path}")
    data = json.loads(path.read_text())
    for key in ("f", "c"):
        if key not in data or np.asarray(data[key]).shape != (2,):
            raise ValueError(f"{path}: field {key!r} must be a list of 2 numbers")
    return {k: np.asarray(v, dtype=np.float64) for k, v in data.items() if not isinstance(v, str)}


@dataclass(frozen=True)
class RecordingTransforms:
    """Transforms of one recording from ``transf_matrices_all_seqs.pkl``.

    Attributes:
        kinect2holo: (4, 4) float64, master Kinect colour camera -> HoloLens world.
        world2pv: timestamp string -> (4, 4) float64, HoloLens world -> PV camera (OpenGL axes; apply ADD_TRANS).
    """

    kinect2holo: np.ndarray
    world2pv: dict[str, np.ndarray]


def write_transf_matrices(path: str | Path, transforms: Mapping[str, RecordingTransforms]) -> None:
    """Write ``transf_matrices_all_seqs.pkl`` (keys in sorted order, pickle protocol 4, deterministic bytes)."""
    data = {}
    for rec in sorted(transforms):
        tr = transforms[rec]
        data[rec] = {
            "trans_kinect2holo": _as_rigid(tr.kinect2holo, f"{rec}: trans_kinect2holo"),
            "trans_world2pv": {ts: _as_rigid(tr.world2pv[ts], f"{rec}: {ts}") for ts in sorted(tr.world2pv)},
        }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(data, protocol=4))


def read_transf_matrices(path: str | Path) -> dict[str, RecordingTransforms]:
    """Read ``transf_matrices_all_seqs.pkl`` -> {recording: RecordingTransforms}.

    Raises:
        FileNotFoundError: no such file. ValueError: a recording lacks a field or a matrix is not 4x4.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing {path} (ships with EgoBody: {TRANSF_FILE})")
    data = load_pickle(path, NUMPY_DATA, what="transform pickle")
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a dict keyed by recording name, got {type(data).__name__}")
    out = {}
    for rec, entry in data.items():
        for key in ("trans_kinect2holo", "trans_world2pv"):
            if key not in entry:
                raise ValueError(f"{path}: recording {rec!r} has no field {key!r}")
        world2pv = {
            str(ts): _as_rigid(m, f"{path}: {rec}/trans_world2pv/{ts}") for ts, m in entry["trans_world2pv"].items()
        }
        out[str(rec)] = RecordingTransforms(
            kinect2holo=_as_rigid(entry["trans_kinect2holo"], f"{path}: {rec}/trans_kinect2holo"), world2pv=world2pv
        )
    return out


def scene2pv(kinect2scene: np.ndarray, kinect2holo: np.ndarray, world2pv: np.ndarray) -> np.ndarray:
    """The full chain ``ADD_TRANS @ world2pv @ kinect2holo @ inv(kinect2scene)`` -> (4, 4) float64, scene -> PV
    (OpenCV axes)."""
    return ADD_TRANS @ np.asarray(world2pv) @ np.asarray(kinect2holo) @ invert_rigid_np(np.asarray(kinect2scene))


def world2pv_from_scene2pv(scene2pv_cv: np.ndarray, kinect2scene: np.ndarray, kinect2holo: np.ndarray) -> np.ndarray:
    """Solve the chain for ``world2pv`` (OpenGL PV axes) given a wanted scene -> PV (OpenCV) transform."""
    return ADD_TRANS @ np.asarray(scene2pv_cv) @ np.asarray(kinect2scene) @ invert_rigid_np(np.asarray(kinect2holo))


def invert_rigid_np(T: np.ndarray) -> np.ndarray:
    """Inverse of a (..., 4, 4) rigid transform, ``[[R^T, -R^T t], [0, 1]]``."""
    T = np.asarray(T, dtype=np.float64)
    R = T[..., :3, :3]
    t = T[..., :3, 3]
    out = np.zeros_like(T)
    Rt = np.swapaxes(R, -1, -2)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", Rt, t)
    out[..., 3, 3] = 1.0
    return out


# ------------------------------------------------------------------------------------------------ data info
def write_data_info(path: str | Path, rows: Sequence[Mapping[str, object]]) -> None:
    """Write ``data_info_release.csv`` with the columns of DATA_INFO_COLUMNS (missing values left empty)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(DATA_INFO_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in DATA_INFO_COLUMNS})
    path.write_text(buf.getvalue())


def read_data_info(path: str | Path) -> list[dict[str, str]]:
    """Read ``data_info_release.csv`` -> list of row dicts (strings). Requires ``recording_name`` and ``scene_name``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing {path}")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip() for f in (reader.fieldnames or [])]
        for col in ("recording_name", "scene_name"):
            if col not in fields:
                raise ValueError(f"{path}: column {col!r} missing (columns: {fields})")
        return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]


def recording_to_scene(path: str | Path) -> dict[str, str]:
    """``data_info_release.csv`` -> {recording_name: scene_name}."""
    return {row["recording_name"]: row["scene_name"] for row in read_data_info(path)}


# ------------------------------------------------------------------------------------------------ annotation
def write_annotation_npz(path: str | Path, fields: Mapping[str, np.ndarray]) -> None:
    """Write an annotation npz loadable by ``np.load`` without pickles, with deterministic bytes.

    Members are written in sorted key order with fixed zip dates, uncompressed (like ``np.savez``).

    Args:
        path: output ``.npz`` path.
        fields: name -> array with leading dimension N (frames); string fields as numpy unicode arrays.

    Raises:
        ValueError: an array has object dtype or the leading dimensions disagree.
    """
    lengths = {k: np.asarray(v).shape[0] if np.asarray(v).ndim else -1 for k, v in fields.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{path}: fields have different numbers of frames: {lengths}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key in sorted(fields):
            arr = np.ascontiguousarray(fields[key])
            if arr.dtype == object:
                raise ValueError(f"{path}: field {key!r} has object dtype; use a numpy string or number dtype")
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr, allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def read_annotation_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Read an annotation npz -> {field: array}. Object arrays (older files) are read with the allow-list unpickler
    (numpy values and plain Python values only) and converted to str.

    Raises:
        FileNotFoundError: no such file. UnsafeFileError: an object array names a class that is not allowed.
        ValueError: not a readable npz file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing annotation file {path}")
    out = {}
    for key, arr in load_npz(path, what="annotation npz", objects=NUMPY_DATA).items():
        if arr.dtype == object:
            arr = np.asarray([str(v) for v in arr.tolist()]) if arr.ndim else np.asarray(str(arr))
        out[key] = arr
    return out
