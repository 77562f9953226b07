"""Checks of the files around the annotations: key types of the transform pickle, scene meshes (empty, 0-byte,
NaN) and images (missing, not a JPEG, truncated, size that disagrees with the intrinsics)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from egohmr.data import egobody_format as fmt
from egohmr.synth.checks.report import Issue, frames_message

JPEG_START = b"\xff\xd8\xff"
JPEG_END = b"\xff\xd9"
JPEG_TAIL_BYTES = 64  # the end-of-image marker may be followed by a little padding
# The principal point of the HoloLens PV camera (and of every synthetic camera) is within ~2% of the image centre;
# 10% catches images resized or cropped after the intrinsics were written.
PRINCIPAL_POINT_TOL = 0.10


def check_transf_key_types(path: Path) -> list[Issue]:
    """Recording names and PV timestamps must be ``str`` keys, as in the official pickle (the loaders look them up
    with strings cut from ``imgname``)."""
    from egohmr.safe_load import NUMPY_DATA, load_pickle

    data = load_pickle(path, NUMPY_DATA, what="transform pickle")
    issues = []
    if not isinstance(data, Mapping):
        return issues  # the reader reports it
    for rec, entry in data.items():
        if not isinstance(rec, str):
            issues.append(Issue(fmt.TRANSF_FILE, "", f"recording key {rec!r} is {type(rec).__name__}, must be str"))
        world2pv = entry.get("trans_world2pv", {}) if isinstance(entry, Mapping) else {}
        odd = [ts for ts in world2pv if not isinstance(ts, str)]
        if odd:
            issues.append(
                Issue(
                    fmt.TRANSF_FILE,
                    f"{rec}/trans_world2pv",
                    f"{len(odd)} timestamp key(s) are {type(odd[0]).__name__}, must be str (e.g. {odd[0]!r})",
                )
            )
    return issues


def read_scene_vertices(root: Path, scene: str, issues: list[Issue]) -> np.ndarray | None:
    """Vertices (V, 3) of ``scene_mesh/<scene>/<scene>.obj`` in the scene frame (y-up, metres), or None after adding
    an issue (missing, 0 bytes, no vertices, NaN/inf)."""
    from egohmr.data.scene_points import read_obj_vertices

    path = fmt.scene_mesh_path(root, scene)
    name = str(path.relative_to(root))
    if not path.is_file():
        issues.append(Issue(name, "", f"scene mesh of scene {scene} missing"))
        return None
    if path.stat().st_size == 0:
        issues.append(Issue(name, "", "file is empty (0 bytes)"))
        return None
    try:
        vertices = read_obj_vertices(path)
    except ValueError as err:
        issues.append(Issue(name, "v", str(err)))
        return None
    bad = ~np.isfinite(vertices).all(axis=1)
    if bad.any():
        issues.append(Issue(name, "v", f"{int(bad.sum())} of {len(vertices)} vertices contain NaN/inf"))
        return None
    return vertices


def _image_problem(path: Path) -> tuple[str | None, tuple[int, int] | None]:
    """(problem, (W, H)) of one image file."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        return "missing", None
    with path.open("rb") as fh:
        head = fh.read(len(JPEG_START))
        size = fh.seek(0, 2)
        fh.seek(max(0, size - JPEG_TAIL_BYTES))
        tail = fh.read()
    if head != JPEG_START:
        return "is not a JPEG file", None
    if JPEG_END not in tail:
        return "is truncated (no JPEG end marker)", None
    try:
        with Image.open(path) as im:
            return None, im.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as err:
        return f"cannot be read ({type(err).__name__}: {err})", None


def check_images(root: Path, name: str, data: dict[str, np.ndarray]) -> tuple[list[Issue], tuple[int, int] | None]:
    """Every frame's image: present, a complete JPEG, and a size whose centre is the principal point (cx, cy) within
    PRINCIPAL_POINT_TOL of the size -> (issues, (W, H) of the first readable image)."""
    names = data["imgname"]
    n = len(names)
    problems: dict[str, list[int]] = {}
    sizes = np.full((n, 2), np.nan)
    for i, imgname in enumerate(names):
        problem, size = _image_problem(root / str(imgname))
        if problem:
            problems.setdefault(problem, []).append(i)
        else:
            sizes[i] = size
    issues = []
    for problem, idx in problems.items():
        mask = np.zeros(n, bool)
        mask[idx] = True
        issues.append(Issue(name, "imgname", frames_message(mask, names, f"image {problem}")))
    read = ~np.isnan(sizes[:, 0])
    centre = np.stack([np.asarray(data[k], np.float64).reshape(n) for k in ("cx", "cy")], axis=1)
    off = np.abs(centre + 0.5 - sizes / 2) / np.where(read[:, None], sizes, 1.0)
    bad = read & (off > PRINCIPAL_POINT_TOL).any(axis=1)
    if bad.any():
        labels = [
            f"image {w:.0f}x{h:.0f}, cx {c[0]:.1f}, cy {c[1]:.1f}" for (w, h), c in zip(sizes, centre, strict=True)
        ]
        issues.append(
            Issue(
                name,
                "cx",
                frames_message(bad, names, "have an image size that disagrees with the intrinsics", np.array(labels)),
            )
        )
    first = tuple(int(v) for v in sizes[read][0]) if read.any() else None
    return issues, first
