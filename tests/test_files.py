"""Atomic file writing: complete new content or the untouched old file, never a partial one."""

from __future__ import annotations

import pickle

import pytest
import torch

from egohmr.files import atomic_open, atomic_pickle_dump, atomic_torch_save, atomic_write_bytes, atomic_write_text


class _Boom:
    """Pickling this raises after the writer has already produced some bytes."""

    def __reduce__(self):
        raise RuntimeError("boom while writing")


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_writers_round_trip(tmp_path):
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01")
    atomic_write_text(tmp_path / "a.txt", "héllo\n")
    atomic_torch_save({"w": torch.arange(3)}, tmp_path / "a.pt")
    atomic_pickle_dump({"k": [1, 2]}, tmp_path / "a.pkl", protocol=2)
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo\n"
    assert torch.equal(torch.load(tmp_path / "a.pt", weights_only=True)["w"], torch.arange(3))
    data = (tmp_path / "a.pkl").read_bytes()
    assert data[:2] == b"\x80\x02" and pickle.loads(data) == {"k": [1, 2]}
    assert _listing(tmp_path) == ["a.bin", "a.pkl", "a.pt", "a.txt"]


@pytest.mark.parametrize("writer", ["torch", "pickle", "block"])
def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path, writer):
    path = tmp_path / "out.dat"
    path.write_bytes(b"old content")
    with pytest.raises(RuntimeError, match="boom"):
        if writer == "torch":
            atomic_torch_save({"big": torch.zeros(10_000), "bad": _Boom()}, path)
        elif writer == "pickle":
            atomic_pickle_dump([b"x" * 10_000, _Boom()], path, protocol=4)
        else:
            with atomic_open(path, "wb") as f:
                f.write(b"partial new content")
                raise RuntimeError("boom mid-way")
    assert path.read_bytes() == b"old content"
    assert _listing(tmp_path) == ["out.dat"]


def test_a_failing_writer_creates_nothing_when_there_was_no_file(tmp_path):
    with pytest.raises(RuntimeError):
        atomic_pickle_dump([_Boom()], tmp_path / "new.pkl", protocol=2)
    assert _listing(tmp_path) == []


def test_missing_folder_and_bad_mode(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write_text(tmp_path / "no" / "x.txt", "x")
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(tmp_path / "x", "a"):
            pass
