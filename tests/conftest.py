"""Shared test fixtures: golden parity files and small random inputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def golden_dir() -> Path:
    """Folder of the official parity fixtures: $EGOHMR_GOLDEN or ../shared/golden beside the repository."""
    return Path(os.environ.get("EGOHMR_GOLDEN", REPO_ROOT.parent / "shared" / "golden"))


@pytest.fixture(scope="session")
def golden():
    """Return a loader `golden(name) -> dict of arrays` for `<golden_dir>/<name>.npz`.

    Missing fixtures skip the test, unless EGOHMR_REQUIRE_GOLDEN=1 (set by CI), where they fail it.
    """

    def load(name: str) -> dict[str, np.ndarray]:
        path = golden_dir() / f"{name}.npz"
        if not path.exists():
            if os.environ.get("EGOHMR_REQUIRE_GOLDEN") == "1":
                pytest.fail(f"golden fixture missing: {path}")
            pytest.skip(f"golden fixture not found: {path}")
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}

    return load
