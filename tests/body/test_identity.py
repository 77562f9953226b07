"""`body_model_id`: a body model source's name and the hash of its neutral file."""

from __future__ import annotations

import shutil

import pytest

from egohmr.body.identity import body_model_id, same_body_model
from egohmr.body.io import resolve_body_path


def test_packaged_bodies_named_and_hashed_apart():
    open_id, lowres_id = body_model_id("open"), body_model_id("open-lowres")
    assert open_id["name"] == "open" and lowres_id["name"] == "open-lowres"
    assert len(open_id["sha256"]) == 64 and open_id["sha256"] != lowres_id["sha256"]
    assert not same_body_model(open_id, lowres_id)


def test_same_files_under_another_name_are_the_same_body(tmp_path):
    folder = tmp_path / "smpl"
    folder.mkdir()
    shutil.copy(resolve_body_path("open-lowres", "neutral"), folder / "SMPL_NEUTRAL.npz")
    copied = body_model_id(folder)
    assert copied["name"] == str(folder)
    assert copied["sha256"] == body_model_id("open-lowres")["sha256"]
    assert same_body_model(copied, body_model_id("open-lowres"))


def test_records_without_hash_compare_by_name():
    assert same_body_model({"name": "open"}, body_model_id("open"))
    assert not same_body_model({"name": "data/smpl"}, body_model_id("open"))


def test_missing_source_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        body_model_id(tmp_path / "nothing")
