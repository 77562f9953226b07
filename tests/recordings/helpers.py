"""Small on-disk inputs for the recordings tests: blank frames, OpenPose files, JSON files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

W, H = 64, 48


def write_frames(folder: Path, names: list[str], width: int = W, height: int = H) -> Path:
    """Blank PNG frames ``<name>.png`` in `folder`."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", (width, height)).save(folder / f"{name}.png")
    return folder


def person_op25(x1: float, y1: float, x2: float, y2: float, conf: float = 0.9) -> np.ndarray:
    """(25, 3) OpenPose keypoints spread over the box (x1, y1, x2, y2), all with confidence `conf`; the box of the
    keypoints is exactly that box."""
    t = np.linspace(0.0, 1.0, 25)
    kp = np.stack([x1 + (x2 - x1) * t, y1 + (y2 - y1) * t[::-1], np.full(25, conf)], axis=1)
    return kp


def write_openpose(folder: Path, name: str, people: list[np.ndarray]) -> Path:
    """OpenPose ``<name>_keypoints.json`` with the given (25, 3) people."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"version": 1.3, "people": [{"pose_keypoints_2d": np.asarray(p).reshape(-1).tolist()} for p in people]}
    path = folder / f"{name}_keypoints.json"
    path.write_text(json.dumps(data))
    return path


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def write_obj(path: Path, vertices: np.ndarray, faces: np.ndarray | None = None) -> Path:
    """A plain OBJ (1-based faces)."""
    lines = [f"v {x} {y} {z}" for x, y, z in np.asarray(vertices, dtype=np.float64)]
    if faces is not None:
        lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in np.asarray(faces)]
    path.write_text("\n".join(lines) + "\n")
    return path
