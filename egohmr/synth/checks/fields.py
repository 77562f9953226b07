"""Per-file checks of an annotation npz that read no other file: fields present, per-frame shapes, the dtypes of
the official files (floating-point numbers, ``str`` names), NaN/inf and value ranges."""

from __future__ import annotations

import numpy as np

from egohmr.data import egobody_format as fmt
from egohmr.synth.checks.report import Issue, frames_message

COLUMN_FIELDS = ("scale", "fx", "fy", "cx", "cy")  # (N,) in the official files; (N, 1) is accepted too


def _shape_problem(key: str, shape: tuple[int, ...], per_frame: tuple[int, ...]) -> str | None:
    if key == "3d_joints_pv":
        if len(per_frame) != 2 or per_frame[1] != 3 or per_frame[0] < fmt.MIN_3D_JOINTS:
            return f"per-frame shape must be (>={fmt.MIN_3D_JOINTS}, 3), got {per_frame}"
        return None
    if key in COLUMN_FIELDS and per_frame == (1,):
        return None
    return None if per_frame == shape else f"per-frame shape must be {shape}, got {per_frame}"


def _dtype_problem(kind: str, arr: np.ndarray) -> str | None:
    if kind == "f" and arr.dtype.kind != "f":
        return f"dtype {arr.dtype}: the official files store floating-point numbers"
    if kind == "U" and arr.dtype.kind != "U":
        return f"dtype {arr.dtype}: the official files store str (bytes or numbers do not match image paths)"
    return None


def check_fields(name: str, data: dict[str, np.ndarray]) -> tuple[list[Issue], int | None]:
    """Fields, shapes, dtypes and NaN/inf of one annotation file -> (issues, number of frames or None)."""
    issues: list[Issue] = []
    n = None
    for key, (shape, kind) in fmt.ANNOTATION_FIELDS.items():
        if key not in data:
            issues.append(Issue(name, key, "field missing"))
            continue
        arr = data[key]
        if arr.ndim == 0:
            issues.append(Issue(name, key, f"expected one entry per frame, got a scalar of dtype {arr.dtype}"))
            continue
        if n is None:
            n = arr.shape[0]
        elif arr.shape[0] != n:
            issues.append(Issue(name, key, f"has {arr.shape[0]} frames, other fields have {n}"))
            continue
        problem = _shape_problem(key, shape, arr.shape[1:]) or _dtype_problem(kind, arr)
        if problem:
            issues.append(Issue(name, key, problem))
            continue
        if kind == "f":
            bad = ~np.isfinite(arr).reshape(len(arr), -1).all(axis=1) if len(arr) else np.zeros(0, bool)
            if bad.any():
                names = data.get("imgname", np.arange(n))
                issues.append(Issue(name, key, frames_message(bad, names, "contain NaN/inf")))
    return issues, n


def check_values(name: str, data: dict[str, np.ndarray]) -> list[Issue]:
    """Value ranges: gender codes, positive focal lengths and box scales, keypoint confidences in [0, 1]."""
    issues: list[Issue] = []
    names = data["imgname"]
    genders = set(np.unique(data["gender"]).tolist())
    if not genders <= {"m", "f"}:
        issues.append(Issue(name, "gender", f"values must be 'm' or 'f', got {sorted(genders)}"))
    for key in ("fx", "fy", "scale"):
        vals = np.asarray(data[key], np.float64).reshape(len(names))
        if np.any(vals <= 0):
            issues.append(Issue(name, key, frames_message(vals <= 0, names, "are not > 0", vals)))
    conf = data["valid_keypoints"][..., 2]
    bad = ((conf < 0) | (conf > 1.0 + 1e-6)).any(axis=1)
    if bad.any():
        issues.append(Issue(name, "valid_keypoints", frames_message(bad, names, "have a confidence outside [0, 1]")))
    return issues
