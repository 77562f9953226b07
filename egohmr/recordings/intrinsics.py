"""Pinhole intrinsics ``(fx, fy, cx, cy)`` px of every frame: from JSON, from 4 numbers, or guessed from a field of
view.

JSON forms (docs/infer.md), optional ``"width"``/``"height"`` (px) checked against the images:
    * one camera: ``{"fx": .., "fy": .., "cx": .., "cy": ..}`` or ``{"K": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]}``;
    * per frame: ``{"frames": {"<frame>": {...one camera...}, ...}}`` (every frame listed; width/height may be given
      at the top or per frame).
Images are taken as undistorted (undistort fisheye or wide-angle frames first).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from egohmr.recordings.frames import Frame, lookup_frame

__all__ = ["DEFAULT_HFOV_DEG", "FrameIntrinsics", "intrinsics_from_fov", "parse_camera", "resolve_intrinsics"]

DEFAULT_HFOV_DEG = 65.0
"""Horizontal field of view assumed without intrinsics (HoloLens2 PV at 1920 px: fx ~ 1450 px, ~67 degrees)."""
MIN_FOCAL_FACTOR, MAX_FOCAL_FACTOR = 0.05, 20.0
"""Plausible focal lengths, in units of the longer image side (fields of view of ~170 to ~3 degrees)."""

Intrinsics = tuple[float, float, float, float]


@dataclass(frozen=True)
class FrameIntrinsics:
    """Intrinsics of every frame.

    Attributes:
        per_frame: [(fx, fy, cx, cy) px] in frame order.
        from_fov: True when guessed from a field of view (no intrinsics given): a warning for the user.
    """

    per_frame: list[Intrinsics]
    from_fov: bool


def intrinsics_from_fov(fov_deg: float, width: int, height: int) -> Intrinsics:
    """Square pixels and a centred principal point: ``fx = fy = (W / 2) / tan(fov / 2)``, ``(cx, cy) = (W/2, H/2)``.

    Args:
        fov_deg: horizontal field of view, degrees in (0, 180).
        width, height: image size px.
    """
    if not 0 < float(fov_deg) < 180:
        raise ValueError(f"fov_deg: horizontal field of view must be in (0, 180) degrees, got {fov_deg}")
    f = (width / 2) / math.tan(math.radians(float(fov_deg)) / 2)
    return f, f, width / 2, height / 2


def _check(values: Sequence[float], width: int, height: int, where: str) -> Intrinsics:
    fx, fy, cx, cy = (float(v) for v in values)
    if not all(math.isfinite(v) for v in (fx, fy, cx, cy)):
        raise ValueError(f"{where}: contains NaN or inf: {[fx, fy, cx, cy]}")
    side = max(width, height)
    for name, f in (("fx", fx), ("fy", fy)):
        if not MIN_FOCAL_FACTOR * side <= f <= MAX_FOCAL_FACTOR * side:
            raise ValueError(
                f"{where}: {name} = {f:g} px is implausible for a {width}x{height} image (expected "
                f"{MIN_FOCAL_FACTOR * side:.0f}..{MAX_FOCAL_FACTOR * side:.0f} px); are the values in pixels of "
                "these images?"
            )
    if not (0 <= cx <= width and 0 <= cy <= height):
        raise ValueError(f"{where}: principal point ({cx:g}, {cy:g}) px lies outside the {width}x{height} image")
    return fx, fy, cx, cy


def parse_camera(entry: Any, width: int, height: int, where: str) -> Intrinsics:
    """One camera ``{"fx", "fy", "cx", "cy"}`` or ``{"K": 3x3}`` (+ optional ``width``/``height``), checked.

    Raises:
        ValueError: missing fields, a K that is not an upper-triangular 3x3 without skew, a size other than the
            image's, implausible values; the message starts with `where`.
    """
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: expected an object with fx, fy, cx, cy or K, got {type(entry).__name__}")
    if "width" in entry or "height" in entry:
        size = (entry.get("width"), entry.get("height"))
        if size != (width, height):
            raise ValueError(
                f"{where}: intrinsics for a {size[0]}x{size[1]} image, but the frame is {width}x{height} px"
            )
    if "K" in entry:
        try:
            K = np.asarray(entry["K"], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: field 'K' must be a 3x3 list of numbers") from None
        if K.shape != (3, 3):
            raise ValueError(f"{where}: field 'K' must be 3x3, got shape {K.shape}")
        if not np.allclose(K[2], [0, 0, 1]) or K[1, 0] != 0 or abs(K[0, 1]) > 1e-6 * abs(K[0, 0]):
            raise ValueError(
                f"{where}: field 'K' must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] (no skew), got {K.tolist()}"
            )
        return _check((K[0, 0], K[1, 1], K[0, 2], K[1, 2]), width, height, where)
    missing = [k for k in ("fx", "fy", "cx", "cy") if k not in entry]
    if missing:
        raise ValueError(f"{where}: fields {missing} missing (give fx, fy, cx, cy or K)")
    try:
        values = [float(entry[k]) for k in ("fx", "fy", "cx", "cy")]
    except (TypeError, ValueError):
        raise ValueError(f"{where}: fx, fy, cx, cy must be numbers") from None
    return _check(values, width, height, where)


def _from_json(path: Path, frames: Sequence[Frame], sizes: Sequence[tuple[int, int]]) -> list[Intrinsics]:
    if not path.is_file():
        raise FileNotFoundError(f"intrinsics: {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"intrinsics: {path} is not valid JSON ({err})") from None
    if not isinstance(data, Mapping):
        raise ValueError(f"intrinsics: {path}: expected a JSON object")
    if "frames" not in data:
        return [
            parse_camera(data, w, h, f"intrinsics: {path} (frame {fr.name!r})")
            for fr, (w, h) in zip(frames, sizes, strict=True)
        ]
    table = data["frames"]
    if not isinstance(table, Mapping):
        raise ValueError(f"intrinsics: {path}: field 'frames' must map frame names to cameras")
    shared = {k: data[k] for k in ("width", "height") if k in data}
    out = []
    for frame, (w, h) in zip(frames, sizes, strict=True):
        entry = lookup_frame(table, frame)
        if entry is None:
            raise ValueError(f"intrinsics: {path}: frames has no entry for frame {frame.name!r}")
        merged = shared | dict(entry) if isinstance(entry, Mapping) else entry
        out.append(parse_camera(merged, w, h, f"intrinsics: {path}: frames[{frame.name!r}]"))
    return out


def resolve_intrinsics(
    source: str | Path | Sequence[float] | None,
    frames: Sequence[Frame],
    sizes: Sequence[tuple[int, int]],
    fov_deg: float | None = None,
) -> FrameIntrinsics:
    """The intrinsics of every frame.

    Args:
        source: a JSON file (module docstring), 4 numbers (fx, fy, cx, cy) px for every frame, or None.
        frames: the recording's frames. sizes: their (width, height) px.
        fov_deg: horizontal field of view used when `source` is None (default `DEFAULT_HFOV_DEG`).

    Returns:
        FrameIntrinsics (``from_fov`` True when guessed).

    Raises:
        FileNotFoundError: missing file. ValueError: both `source` and `fov_deg`, or bad values (file, frame, field).
    """
    if source is None:
        fov = DEFAULT_HFOV_DEG if fov_deg is None else float(fov_deg)
        return FrameIntrinsics([intrinsics_from_fov(fov, w, h) for w, h in sizes], True)
    if fov_deg is not None:
        raise ValueError("intrinsics: give either intrinsics or a field of view (fov_deg), not both")
    if isinstance(source, str | Path):
        return FrameIntrinsics(_from_json(Path(source), frames, sizes), False)
    values = list(source)
    if len(values) != 4:
        raise ValueError(f"intrinsics: expected 4 numbers (fx, fy, cx, cy) px, got {values}")
    per_frame = [
        _check(values, w, h, f"intrinsics (frame {fr.name!r})") for fr, (w, h) in zip(frames, sizes, strict=True)
    ]
    return FrameIntrinsics(per_frame, False)
