"""`egohmr.jobs`: manifests, refusals naming what changed, overwrite, the folder lock, stale temporaries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from egohmr.files import TEMP_SUFFIX, atomic_write_text
from egohmr.jobs import (
    FolderLockedError,
    JobManifest,
    StaleOutputError,
    claim_output_dir,
    clean_stale_temporaries,
    file_digest,
    folder_lock,
    job_output_dir,
    listing_digest,
)


def _manifest(n: int = 1, data: str = "sha256:a") -> JobManifest:
    return JobManifest("demo", {"n": n}, {"data": data})


def test_file_digest_follows_content(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"one")
    first = file_digest(f)
    assert first == file_digest(f) and first.startswith("sha256:")
    f.write_bytes(b"two!")  # other size: a new cache key
    assert file_digest(f) != first


def test_listing_digest_sees_a_replaced_file_but_not_a_moved_set(tmp_path):
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "img.jpg").write_bytes(b"abc")
        os.utime(tmp_path / d / "img.jpg", ns=(10**18, 10**18))
    assert listing_digest([tmp_path / "x" / "img.jpg"], tmp_path / "x") == listing_digest(
        [tmp_path / "y" / "img.jpg"], tmp_path / "y"
    )
    before = listing_digest([tmp_path / "x" / "img.jpg"], tmp_path / "x")
    (tmp_path / "x" / "img.jpg").write_bytes(b"abcd")
    assert listing_digest([tmp_path / "x" / "img.jpg"], tmp_path / "x") != before


def test_claim_resumes_same_manifest_and_names_every_difference(tmp_path):
    out = tmp_path / "out"
    assert claim_output_dir(out, _manifest()) is False
    (out / "result.npy").write_bytes(b"r")
    assert claim_output_dir(out, _manifest()) is True
    with pytest.raises(StaleOutputError, match=r"parameter n: 1 -> 2") as err:
        claim_output_dir(out, _manifest(n=2))
    assert str(out) in str(err.value) and "--overwrite" in str(err.value)
    with pytest.raises(StaleOutputError, match=r"input data: 'sha256:a' -> 'sha256:b'"):
        claim_output_dir(out, _manifest(data="sha256:b"))
    with pytest.raises(StaleOutputError, match=r"job kind: 'demo' -> 'other'"):
        claim_output_dir(out, JobManifest("other", {"n": 1}, {"data": "sha256:a"}), name="demo")


def test_overwrite_removes_old_outputs(tmp_path):
    out = tmp_path / "out"
    claim_output_dir(out, _manifest())
    (out / "result.npy").write_bytes(b"old")
    assert claim_output_dir(out, _manifest(n=2), overwrite=True) is False
    assert not (out / "result.npy").exists()
    assert claim_output_dir(out, _manifest(n=2)) is True  # the new manifest is stored


def test_a_failed_run_without_outputs_does_not_block_other_settings(tmp_path):
    out = tmp_path / "out"
    claim_output_dir(out, _manifest())
    assert claim_output_dir(out, _manifest(n=2)) is False


def test_foreign_folder_is_refused_and_never_emptied(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    with pytest.raises(StaleOutputError, match=r"not empty \(notes.txt\).*not made by an egohmr demo job"):
        claim_output_dir(out, _manifest())
    claim_output_dir(out, _manifest(), overwrite=True)
    assert (out / "notes.txt").read_text() == "precious"


def test_jobs_sharing_a_folder_use_their_own_manifests(tmp_path):
    claim_output_dir(tmp_path, _manifest(), outputs=[tmp_path / "a"], name="a")
    (tmp_path / "a").write_text("a")
    assert claim_output_dir(tmp_path, _manifest(n=5), outputs=[tmp_path / "b"], name="b") is False


def test_second_writer_gets_a_clear_lock_error(tmp_path):
    with folder_lock(tmp_path):
        with pytest.raises(FolderLockedError, match=rf"{tmp_path}.*pid {os.getpid()}"):
            with job_output_dir(tmp_path, _manifest()):
                pass
    with job_output_dir(tmp_path, _manifest()) as reuse:  # released
        assert reuse is False


def test_lock_held_by_another_process(tmp_path):
    code = (
        "import sys, time; from egohmr.jobs import folder_lock\n"
        f"with folder_lock({str(tmp_path)!r}):\n    print('held', flush=True); time.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(FolderLockedError, match=rf"pid {proc.pid}"):
            with folder_lock(tmp_path):
                pass
    finally:
        proc.kill()
        proc.wait()


def test_temporary_file_of_a_killed_write_is_removed_at_the_next_start(tmp_path):
    code = (
        "import os; from egohmr.files import atomic_open\n"
        f"with atomic_open({str(tmp_path / 'big.npy')!r}) as f:\n    f.write(b'partial'); f.flush(); os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    left = [p for p in tmp_path.iterdir() if p.name.endswith(TEMP_SUFFIX)]
    assert len(left) == 1 and not (tmp_path / "big.npy").exists()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / f".x.npy.abc{TEMP_SUFFIX}").write_bytes(b"")
    atomic_write_text(tmp_path / "keep.tmp", "not ours")
    with job_output_dir(tmp_path, _manifest(), overwrite=True):
        assert not [p for p in tmp_path.rglob("*") if p.name.endswith(TEMP_SUFFIX)]
    assert clean_stale_temporaries(tmp_path) == 0
    assert (tmp_path / "keep.tmp").read_text() == "not ours"


def test_manifest_file_is_json_with_kind_parameters_inputs(tmp_path):
    import json

    claim_output_dir(tmp_path, _manifest())
    data = json.loads(Path(tmp_path / ".egohmr-job.demo.json").read_text())
    assert data == {"kind": "demo", "parameters": {"n": 1}, "inputs": {"data": "sha256:a"}}
