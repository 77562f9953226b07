"""Tests of the synthetic EgoBody generator. Helpers shared by the test modules live here."""

from __future__ import annotations

import os

import pytest


def synth_body_source() -> str:
    """Body source for synthetic-data tests: the packaged low-resolution open body (or ``EGOHMR_SYNTH_TEST_BODY``).

    Skips the calling test when the body files of ``EGOHMR_SYNTH_TEST_BODY`` are not there; the packaged body is
    committed, so its absence fails the test.
    """
    from egohmr.body import resolve_body_path

    source = os.environ.get("EGOHMR_SYNTH_TEST_BODY")
    if source is None:
        return "open-lowres"
    try:
        for gender in ("male", "female"):
            resolve_body_path(source, gender)
    except FileNotFoundError as err:
        pytest.skip(f"body model files unavailable: {err}")
    return source
