"""`FrameRecord`: everything the output writers need about one frame, as plain numpy arrays, and its `.npz` file.

A record is what `egohmr demo` / `egohmr infer` hand to the writers (overlays, .glb, index.html) and what they
save under ``OUTPUT_DIR/frames/<stem>.npz`` so `egohmr view OUTPUT_DIR` can show the results later. It does not
depend on the models: 3D quantities are in the PV camera frame (OpenCV axes: x right, y down, z forward), metres.

File format (``np.savez_compressed``, read with ``allow_pickle=False``): ``format_version``, ``name``,
``intrinsics_px``, ``bbox_px``, ``scene_points_pv``, ``pred_vertices_pv``, ``faces`` and, when present,
``image``, ``image_path``, ``scene_colors``, ``scene_mesh_vertices_pv``, ``scene_mesh_faces``, ``gt_vertices_pv``,
``metrics_json`` (a JSON object string), ``joint_visible``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from egohmr.files import atomic_open
from egohmr.safe_load import refuse_npz_objects

__all__ = [
    "FORMAT_VERSION",
    "FRAMES_DIR",
    "FrameRecord",
    "find_frame_records",
    "frame_stem",
    "load_frame_record",
    "save_frame_record",
]

FORMAT_VERSION = 1
FRAMES_DIR = "frames"
_OPTIONAL_ARRAYS = ("image", "scene_colors", "scene_mesh_vertices_pv", "scene_mesh_faces", "gt_vertices_pv")


def _float_tuple(value, n: int, name: str) -> tuple[float, ...]:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"FrameRecord.{name}: expected {n} finite numbers, got {value!r}")
    return tuple(float(x) for x in arr)


def _array(value, dtype, shape_tail: tuple[int, ...], ndim: int, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != ndim or arr.shape[arr.ndim - len(shape_tail) :] != shape_tail:
        tail = ", ".join(map(str, shape_tail))
        raise ValueError(f"FrameRecord.{name}: expected {ndim}-D array ending in ({tail}), got shape {arr.shape}")
    arr = arr.astype(dtype, copy=False)
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise ValueError(f"FrameRecord.{name}: contains NaN or inf")
    return arr


@dataclass(frozen=True)
class FrameRecord:
    """One frame's inputs and predictions, ready to be drawn and exported.

    Attributes:
        name: frame name (e.g. the image name); `frame_stem` makes a file name of it.
        intrinsics_px: (fx, fy, cx, cy) of the full image, pixels, OpenCV pixel centres.
        bbox_px: (x1, y1, x2, y2) body box in the full image, pixels.
        scene_points_pv: (P, 3) float32, metres, PV frame. The scene crop stage 2 saw (P may be 0).
        pred_vertices_pv: (S, V, 3) float32, metres, PV frame. Predicted samples, the mode sample at index 0.
        faces: (F, 3) int32 body faces (vertex indices into V).
        image: (H, W, 3) uint8 RGB egocentric image, or None when only `image_path` is given.
        image_path: path of the image file (used when `image` is None), or None.
        scene_colors: (P, 3) uint8 RGB colours of the scene points, or None.
        scene_mesh_vertices_pv: (M, 3) float32, metres, PV frame, or None. An optional scene mesh.
        scene_mesh_faces: (G, 3) int32 faces of the scene mesh, or None.
        gt_vertices_pv: (V, 3) float32, metres, PV frame, ground-truth body, or None when unknown.
        metrics: per-frame metrics {name: value} (names as in docs/metrics.md, e.g. ``mpjpe_mm``), or None.
        joint_visible: (24,) bool visibility of the SMPL joints in the image, or None.

    Raises:
        ValueError: a field has the wrong shape, a non-finite value, or an inconsistent size (message names it).
    """

    name: str
    intrinsics_px: tuple[float, float, float, float]
    bbox_px: tuple[float, float, float, float]
    scene_points_pv: np.ndarray
    pred_vertices_pv: np.ndarray
    faces: np.ndarray
    image: np.ndarray | None = None
    image_path: str | None = None
    scene_colors: np.ndarray | None = None
    scene_mesh_vertices_pv: np.ndarray | None = None
    scene_mesh_faces: np.ndarray | None = None
    gt_vertices_pv: np.ndarray | None = None
    metrics: dict[str, float] | None = field(default=None)
    joint_visible: np.ndarray | None = None

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "name", str(self.name))
        K = _float_tuple(self.intrinsics_px, 4, "intrinsics_px")
        if K[0] <= 0 or K[1] <= 0:
            raise ValueError(f"FrameRecord.intrinsics_px: fx and fy must be > 0, got {K}")
        s(self, "intrinsics_px", K)
        box = _float_tuple(self.bbox_px, 4, "bbox_px")
        if not (box[2] > box[0] and box[3] > box[1]):
            raise ValueError(f"FrameRecord.bbox_px: expected x1 < x2 and y1 < y2, got {box}")
        s(self, "bbox_px", box)
        s(self, "scene_points_pv", _array(self.scene_points_pv, np.float32, (3,), 2, "scene_points_pv"))
        pred = _array(self.pred_vertices_pv, np.float32, (3,), 3, "pred_vertices_pv")
        if pred.shape[0] < 1:
            raise ValueError("FrameRecord.pred_vertices_pv: needs at least one sample (S >= 1)")
        s(self, "pred_vertices_pv", pred)
        faces = _array(self.faces, np.int32, (3,), 2, "faces")
        if len(faces) and (faces.min() < 0 or faces.max() >= pred.shape[1]):
            raise ValueError(
                f"FrameRecord.faces: indices must be in [0, {pred.shape[1]}), got {faces.min()}..{faces.max()}"
            )
        s(self, "faces", faces)
        if self.image is None and self.image_path is None:
            raise ValueError(f"FrameRecord {self.name!r}: give image (H, W, 3) uint8 or image_path")
        if self.image is not None:
            img = np.asarray(self.image)
            if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
                raise ValueError(f"FrameRecord.image: expected (H, W, 3) uint8, got {img.shape} {img.dtype}")
            s(self, "image", img)
        if self.image_path is not None:
            s(self, "image_path", os.fspath(self.image_path))
        if self.scene_colors is not None:
            col = _array(self.scene_colors, np.uint8, (3,), 2, "scene_colors")
            if len(col) != len(self.scene_points_pv):
                raise ValueError(
                    f"FrameRecord.scene_colors: {len(col)} colours for {len(self.scene_points_pv)} scene points"
                )
            s(self, "scene_colors", col)
        if (self.scene_mesh_vertices_pv is None) != (self.scene_mesh_faces is None):
            raise ValueError("FrameRecord: give both scene_mesh_vertices_pv and scene_mesh_faces, or neither")
        if self.scene_mesh_vertices_pv is not None:
            mv = _array(self.scene_mesh_vertices_pv, np.float32, (3,), 2, "scene_mesh_vertices_pv")
            mf = _array(self.scene_mesh_faces, np.int32, (3,), 2, "scene_mesh_faces")
            if len(mf) and (mf.min() < 0 or mf.max() >= len(mv)):
                raise ValueError(f"FrameRecord.scene_mesh_faces: indices must be in [0, {len(mv)})")
            s(self, "scene_mesh_vertices_pv", mv)
            s(self, "scene_mesh_faces", mf)
        if self.gt_vertices_pv is not None:
            gt = _array(self.gt_vertices_pv, np.float32, (3,), 2, "gt_vertices_pv")
            if gt.shape != pred.shape[1:]:
                raise ValueError(f"FrameRecord.gt_vertices_pv: shape {gt.shape}, predictions have {pred.shape[1:]}")
            s(self, "gt_vertices_pv", gt)
        if self.metrics is not None:
            if not isinstance(self.metrics, Mapping):
                raise ValueError(f"FrameRecord.metrics: expected a mapping name -> number, got {type(self.metrics)}")
            s(self, "metrics", {str(k): float(v) for k, v in self.metrics.items()})
        if self.joint_visible is not None:
            vis = np.asarray(self.joint_visible)
            if vis.ndim != 1:
                raise ValueError(f"FrameRecord.joint_visible: expected (24,), got shape {vis.shape}")
            s(self, "joint_visible", vis.astype(bool))

    @property
    def num_samples(self) -> int:
        """S, the number of predicted samples."""
        return int(self.pred_vertices_pv.shape[0])

    def load_image(self, base_dir: str | os.PathLike[str] | None = None) -> np.ndarray:
        """The image as (H, W, 3) uint8 RGB: `image`, else `image_path` read with Pillow.

        Args:
            base_dir: folder that a relative `image_path` is relative to (default: the working directory).

        Raises:
            FileNotFoundError: the image file does not exist.
        """
        if self.image is not None:
            return self.image
        path = Path(self.image_path)
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        if not path.is_file():
            raise FileNotFoundError(f"frame {self.name!r}: image file {path} (FrameRecord.image_path) not found")
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))


MAX_STEM_CHARS = 80
"""Longest stem `frame_stem` writes (before the ``0007_`` index prefix)."""


def frame_stem(name: str, index: int | None = None) -> str:
    """A safe file stem for a frame: `name` with anything but letters, digits, '-', '.' replaced by '_'.

    Args:
        name: frame name, e.g. ``egocentric_color/recording_x/<holo_time>/PV/132_frame_01234.jpg``. Names longer than
            `MAX_STEM_CHARS` lose whole leading folders (``egocentric_color``), so the recording name stays whole.
        index: when given, prefixed as ``0007_`` so stems sort in frame order and stay unique.
    """
    base = re.sub(r"\.(jpg|jpeg|png)$", "", str(name), flags=re.IGNORECASE)
    parts = [p for p in (_safe_part(part) for part in re.split(r"[/\\]", base)) if p]
    while len(parts) > 1 and len("_".join(parts)) > MAX_STEM_CHARS:  # drop whole leading folders, never cut a name
        parts.pop(0)
    safe = "_".join(parts)[-MAX_STEM_CHARS:] or "frame"
    return safe if index is None else f"{index:04d}_{safe}"


def _safe_part(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9.\-]+", "_", part).strip("._")


def save_frame_record(path: str | os.PathLike[str], record: FrameRecord, embed_image: bool = True) -> Path:
    """Write `record` to `path` (.npz, compressed, atomically).

    Args:
        path: destination file; its folder is created if missing.
        record: the frame.
        embed_image: store `record.image` in the file (when it is set); otherwise only `image_path` is kept.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION),
        "name": np.array(record.name),
        "intrinsics_px": np.array(record.intrinsics_px, np.float64),
        "bbox_px": np.array(record.bbox_px, np.float64),
        "scene_points_pv": record.scene_points_pv,
        "pred_vertices_pv": record.pred_vertices_pv,
        "faces": record.faces,
    }
    for key in _OPTIONAL_ARRAYS:
        value = getattr(record, key)
        if value is not None and (key != "image" or embed_image):
            arrays[key] = value
    if record.image_path is not None:
        arrays["image_path"] = np.array(record.image_path)
    if record.metrics is not None:
        clean = {k: (v if math.isfinite(v) else None) for k, v in record.metrics.items()}
        arrays["metrics_json"] = np.array(json.dumps(clean, sort_keys=True))
    if record.joint_visible is not None:
        arrays["joint_visible"] = record.joint_visible
    if not embed_image and record.image_path is None:
        raise ValueError(f"frame {record.name!r}: embed_image=False needs FrameRecord.image_path")
    with atomic_open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def _load_metrics(data) -> dict[str, float] | None:
    if "metrics_json" not in data.files:
        return None
    raw = json.loads(str(data["metrics_json"]))
    return {k: (float("nan") if v is None else float(v)) for k, v in raw.items()}


def load_frame_record(path: str | os.PathLike[str]) -> FrameRecord:
    """Read a record written by `save_frame_record`.

    Raises:
        FileNotFoundError: no such file. ValueError: not a frame record, or a newer format version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"frame record {path} not found")
    refuse_npz_objects(path, "frame record")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable .npz frame record: {err}") from err
    with data:
        missing = [
            k
            for k in ("format_version", "name", "intrinsics_px", "bbox_px", "pred_vertices_pv", "faces")
            if k not in data.files
        ]
        if missing:
            raise ValueError(f"{path} is not a frame record: missing keys {missing}")
        version = int(data["format_version"])
        if version > FORMAT_VERSION:
            raise ValueError(f"{path}: frame record format {version} is newer than supported ({FORMAT_VERSION})")
        opt = {k: (data[k] if k in data.files else None) for k in _OPTIONAL_ARRAYS}
        return FrameRecord(
            name=str(data["name"]),
            intrinsics_px=tuple(data["intrinsics_px"]),
            bbox_px=tuple(data["bbox_px"]),
            scene_points_pv=data["scene_points_pv"] if "scene_points_pv" in data.files else np.zeros((0, 3)),
            pred_vertices_pv=data["pred_vertices_pv"],
            faces=data["faces"],
            image_path=str(data["image_path"]) if "image_path" in data.files else None,
            metrics=_load_metrics(data),
            joint_visible=data["joint_visible"] if "joint_visible" in data.files else None,
            **opt,
        )


def find_frame_records(out_dir: str | os.PathLike[str]) -> list[Path]:
    """The frame records of an output folder (``OUT/frames/*.npz``), sorted by file name."""
    folder = Path(out_dir) / FRAMES_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.npz") if p.is_file())
