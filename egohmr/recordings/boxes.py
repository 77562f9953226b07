"""User-given body boxes ``(x1, y1, x2, y2)`` px: one box for every frame, or a JSON file with one box or a box per
frame (``{"<frame>": [x1, y1, x2, y2], ...}``; frames not listed have no box)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from egohmr.recordings.frames import Frame, lookup_frame

__all__ = ["check_box", "read_boxes"]

Box = tuple[float, float, float, float]


def check_box(values: Any, width: int, height: int, where: str) -> Box:
    """4 finite numbers with x1 < x2, y1 < y2, overlapping the ``width x height`` image.

    Raises:
        ValueError: starting with `where`.
    """
    try:
        box = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected 4 numbers x1, y1, x2, y2 (px), got {values!r}") from None
    if len(box) != 4 or not all(math.isfinite(v) for v in box):
        raise ValueError(f"{where}: expected 4 finite numbers x1, y1, x2, y2 (px), got {list(box)}")
    x1, y1, x2, y2 = box
    if not (x2 > x1 and y2 > y1):
        raise ValueError(f"{where}: box {list(box)} is empty (need x1 < x2 and y1 < y2)")
    if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
        raise ValueError(f"{where}: box {list(box)} lies outside the {width}x{height} px image")
    return x1, y1, x2, y2


def read_boxes(
    source: str | Path | Sequence[float] | Mapping[str, Sequence[float]],
    frames: Sequence[Frame],
    sizes: Sequence[tuple[int, int]],
) -> list[Box | None]:
    """The user's box of every frame (None where a per-frame table has no entry).

    Args:
        source: 4 numbers, {frame: 4 numbers}, or a JSON file holding either.
        frames: the recording's frames. sizes: their (width, height) px.

    Raises:
        FileNotFoundError: missing file. ValueError: bad JSON or a bad box (naming the file and frame).
    """
    where = "bbox"
    data: Any = source
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"bbox: {path} does not exist")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"bbox: {path} is not valid JSON ({err})") from None
        where = f"bbox: {path}"
    out: list[Box | None] = []
    for frame, (w, h) in zip(frames, sizes, strict=True):
        values = lookup_frame(data, frame) if isinstance(data, Mapping) else data
        out.append(None if values is None else check_box(values, w, h, f"{where} (frame {frame.name!r})"))
    return out
