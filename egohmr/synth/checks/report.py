"""What a dataset check finds: one `Issue` per problem (file, field, message naming the frame) and the report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Issue:
    """One problem: the file (relative to the dataset root), the field (or "" for the whole file) and a message that
    names the frame (``imgname``) when the problem is per frame."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}" + (f" [{self.field}]" if self.field else "")
        return f"{where}: {self.message}"


@dataclass
class CheckReport:
    """Issues found and counts of what was checked."""

    issues: list[Issue]
    frames: int
    files_checked: int

    @property
    def ok(self) -> bool:
        return not self.issues


def relative(root: Path, path: Path) -> str:
    """``path`` relative to the dataset root (as given when outside it)."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def frames_message(bad: np.ndarray, imgnames: np.ndarray, what: str, values: np.ndarray | None = None) -> str:
    """``"<k>/<n> frame(s) <what>; first: <imgname> (<value>)"`` for a boolean (N,) mask with at least one True."""
    first = int(np.nonzero(bad)[0][0])
    value = f" ({values[first]})" if values is not None else ""
    return f"{int(bad.sum())}/{len(bad)} frame(s) {what}; first: {imgnames[first]}{value}"
