"""A private, mutable copy of the tiny EgoBody per test (the shared session copy must stay untouched)."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest

from egohmr.data import egobody_format as ebf
from tests.data.conftest import tiny_egobody  # noqa: F401  (session fixture)


@pytest.fixture
def own_egobody(tiny_egobody, tmp_path):  # noqa: F811
    """A copy of the tiny EgoBody under `tmp_path / "egobody"` (same description, new root)."""
    root = tmp_path / "egobody"
    shutil.copytree(tiny_egobody.root, root)
    return replace(tiny_egobody, root=root, body_path=root / tiny_egobody.body_path.relative_to(tiny_egobody.root))


def nudge_annotation(root, split: str, field: str = "transl_pv", delta: float = 0.01) -> None:
    """Change the annotation npz of `split` (add `delta` to `field`), keeping it valid."""
    path = ebf.annotation_path(root, split)
    data = ebf.read_annotation_npz(path)
    data[field] = np.asarray(data[field]) + delta
    ebf.write_annotation_npz(path, data)
