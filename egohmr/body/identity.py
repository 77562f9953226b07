"""`body_model_id`: which body model a set of betas belongs to, as a name and a content hash.

Betas only mean something with the shape blend shapes they were predicted for, so results files and prediction
``.npz`` files record the body model (`egohmr.evaluate.pipeline.check_body_model` compares the record with the body
model an evaluation uses). The hash is the SHA-256 of the neutral body model file that `resolve_body_path` picks:
the neutral model poses the predictions, and two sources that resolve to equal files are the same body model.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from egohmr.body.io import OPEN_SOURCES, resolve_body_path

__all__ = ["body_model_id", "same_body_model"]


@functools.lru_cache(maxsize=16)
def _file_sha256(path: Path, size: int, mtime_ns: int) -> str:
    """SHA-256 of a file (cached per path, size and modification time)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def body_model_id(source: str | Path) -> dict[str, str]:
    """Identity of a body model source: ``{"name": ..., "sha256": ...}``.

    Args:
        source: as `egohmr.body.load_body_model` takes it: ``"open"`` / ``"open-lowres"`` (named so), an SMPL folder
            or a file (named by the path as given).

    Returns:
        name: the source as given; sha256: hex digest of its neutral body model file.

    Raises:
        FileNotFoundError: the source does not resolve to a file (`resolve_body_path`).
    """
    path = resolve_body_path(source, "neutral").resolve()
    stat = path.stat()
    name = source if isinstance(source, str) and source in OPEN_SOURCES else str(source)
    return {"name": name, "sha256": _file_sha256(path, stat.st_size, stat.st_mtime_ns)}


def same_body_model(a: dict[str, str], b: dict[str, str]) -> bool:
    """Whether two `body_model_id` records name the same body model (by hash; by name when a hash is missing)."""
    if a.get("sha256") and b.get("sha256"):
        return a["sha256"] == b["sha256"]
    return a.get("name") == b.get("name")
