"""Session fixtures of the data tests: a tiny official-layout EgoBody and its preprocessed scene points."""

from __future__ import annotations

import pytest

from tests.data.tiny_egobody import TinyEgoBody, write_tiny_egobody

S1_POINTS = 500
S2_POINTS = 150


@pytest.fixture(scope="session")
def tiny_egobody(tmp_path_factory) -> TinyEgoBody:
    return write_tiny_egobody(tmp_path_factory.mktemp("egobody"))


@pytest.fixture(scope="session")
def s1_dir(tiny_egobody, tmp_path_factory):
    from egohmr.preprocess.scene_s1 import SceneS1Options, run_scene_s1

    out = tmp_path_factory.mktemp("s1")
    for split in ("train", "test"):
        run_scene_s1(
            SceneS1Options(root=str(tiny_egobody.root), split=split, out_dir=str(out), num_points=S1_POINTS, every=3),
            progress=False,
        )
    return out


@pytest.fixture(scope="session")
def s2_root(tiny_egobody, tmp_path_factory):
    from egohmr.preprocess.scene_s2 import SceneS2Options, run_scene_s2

    out = tmp_path_factory.mktemp("s2")
    run_scene_s2(
        SceneS2Options(
            root=str(tiny_egobody.root),
            split="train",
            out_root=str(out),
            mode="train",
            body_model=str(tiny_egobody.body_path),
            num_points=S2_POINTS,
        ),
        progress=False,
    )
    return out
