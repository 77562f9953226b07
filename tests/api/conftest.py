"""Shared fixtures: one tiny demo run (its synthetic dataset is reused by the API tests) and the shipped pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from egohmr.pipeline.checkpoints import SHIPPED_STAGE1, SHIPPED_STAGE2


def _needs_shipped() -> None:
    if not (SHIPPED_STAGE1.is_file() and SHIPPED_STAGE2.is_file()):
        pytest.fail(f"shipped checkpoints missing ({SHIPPED_STAGE1}, {SHIPPED_STAGE2})")


@pytest.fixture(scope="package")
def tiny_demo(tmp_path_factory) -> Path:
    """Output folder of `run_demo` in its tiny configuration (1 recording x 2 frames, 320x180, 2 samples, ddim-5)."""
    from egohmr.pipeline.demo import DemoSettings, run_demo, tiny_settings

    _needs_shipped()
    out = tmp_path_factory.mktemp("demo") / "out"
    run_demo(tiny_settings(DemoSettings(out=out, device="cpu")))
    return out


@pytest.fixture(scope="package")
def pipe():
    from egohmr.pipeline.core import EgoHMRPipeline

    _needs_shipped()
    return EgoHMRPipeline.from_pretrained(device="cpu")
