"""Shared test fixtures: golden parity files and small random inputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def golden_dir() -> Path:
    """Folder of the official parity fixtures: $EGOHMR_GOLDEN_DIR, or the copy shipped in tests/golden."""
    return Path(os.environ.get("EGOHMR_GOLDEN_DIR", REPO_ROOT / "tests" / "golden"))


@pytest.fixture(scope="session")
def golden():
    """Return a loader `golden(name) -> dict of arrays` for `<golden_dir>/<name>.npz`.

    The fixtures ship with the repository, so a missing one fails the test (it never skips).
    """

    def load(name: str) -> dict[str, np.ndarray]:
        path = golden_dir() / f"{name}.npz"
        if not path.exists():
            pytest.fail(f"golden fixture missing: {path} (EGOHMR_GOLDEN_DIR={os.environ.get('EGOHMR_GOLDEN_DIR')})")
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}

    return load
