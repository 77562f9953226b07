"""The frames of a recording: one image or a folder of images, in name order.

A frame's name is its file stem (``000123`` for ``frames/000123.jpg``); the other inputs (keypoint files, per-frame
intrinsics and poses) refer to frames by that name or by the full file name (`frame_keys`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple, TypeVar

__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "Frame", "frame_keys", "image_size", "list_frames", "lookup_frame"]

IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png")
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")

T = TypeVar("T")


class Frame(NamedTuple):
    """One frame: ``(name, path)``, name = the image's file stem."""

    name: str
    path: Path


def _natural_key(name: str) -> list[object]:
    """Sort key that orders digit runs by value: ``2.jpg`` before ``10.jpg``; zero-padded names sort as text."""
    return [(0, int(part), part) if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name)]


def list_frames(source: str | Path) -> list[Frame]:
    """The frames of `source`, ordered by file name (digit runs by value, so unpadded numbers also sort right).

    Args:
        source: one image (.jpg/.jpeg/.png) or a folder of them (not recursive; other files ignored).

    Returns:
        [Frame(name, path), ...] with unique names.

    Raises:
        FileNotFoundError: `source` does not exist. ValueError: a video file (extract its frames first), another
            file type, a folder without images, or two images with the same stem (``a.jpg`` and ``a.png``).
    """
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"frames: {path} does not exist (give an image or a folder of .jpg/.jpeg/.png images)")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            raise ValueError(
                f"frames: {path} is a video; egohmr reads images only (no video reader is installed). Extract the "
                f"frames first, e.g. `ffmpeg -i {path.name} frames/%06d.png`, and pass the folder"
            )
        if suffix not in IMAGE_SUFFIXES:
            raise ValueError(f"frames: {path} is not an image ({suffix!r}); expected one of {list(IMAGE_SUFFIXES)}")
        return [Frame(path.stem, path)]
    images = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        videos = sorted(p.name for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        hint = f" (it holds videos {videos[:3]}: extract their frames first)" if videos else ""
        raise ValueError(f"frames: no {'/'.join(s[1:] for s in IMAGE_SUFFIXES)} image in folder {path}{hint}")
    images.sort(key=lambda p: _natural_key(p.name))
    seen: dict[str, Path] = {}
    for p in images:
        if p.stem in seen:
            raise ValueError(f"frames: {seen[p.stem].name} and {p.name} in {path} have the same frame name {p.stem!r}")
        seen[p.stem] = p
    return [Frame(p.stem, p) for p in images]


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` px of an image, read from its header.

    Raises:
        ValueError: the file is empty or not a readable image.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.stat().st_size == 0:
        raise ValueError(f"frames: {path} is empty (0 bytes)")
    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
        raise ValueError(f"frames: {path} is not a readable image ({err})") from None


def frame_keys(frame: Frame) -> tuple[str, str]:
    """The names an input file may use for `frame`: its stem and its file name."""
    return frame.name, frame.path.name


def lookup_frame(table: Mapping[str, T], frame: Frame) -> T | None:
    """``table[stem]`` or ``table[file name]`` of `frame`, None when neither is there."""
    for key in frame_keys(frame):
        if key in table:
            return table[key]
    return None
