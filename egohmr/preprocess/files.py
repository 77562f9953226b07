"""Atomic output files of the preprocessing commands (temporary file in the same folder, then ``os.replace``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from egohmr.files import atomic_open

__all__ = ["atomic_save_npy"]


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    """``np.save`` to ``path`` atomically (no pickles), creating its folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as fh:
        np.save(fh, np.asarray(array), allow_pickle=False)
