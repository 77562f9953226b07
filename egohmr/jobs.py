"""Output folders of resumable or cached jobs: input manifests, one writer at a time, no stale temporaries.

A job (scene preprocessing, `egohmr test`, an image-feature cache, `egohmr synth`...) describes what it computes as a
`JobManifest`: its kind, its parameters and a digest of every input file. `claim_output_dir` stores the manifest in
the output folder (``.egohmr-job.<name>.json``; several jobs may share a folder under different names) and refuses a
folder whose manifest differs, so a resumed or cached result always comes from the inputs it names:

* same kind, parameters and inputs: the job resumes (finished outputs are reused);
* anything different: `StaleOutputError` listing each difference (old vs new); ``overwrite=True`` removes the job's
  old outputs instead and the job recomputes them;
* a non-empty folder without any manifest (made by something else): refused unless ``overwrite=True`` (then the job
  writes into it, but removes only the outputs it names).

Digest rule (`file_digest`, `listing_digest`): an input file is hashed by content (sha256, cached within the process by
path, size and modification time); a large set of files (images of a split, a folder of scene cubes) is hashed by its
sorted listing of (relative name, size, mtime_ns), so touching, replacing or adding a file changes the digest while
reading every image is avoided.

`folder_lock` holds ``.egohmr.lock`` (an exclusive, non-blocking `fcntl.flock`) while a job writes, so a second job
writing the same folder stops with `FolderLockedError`; `clean_stale_temporaries` removes the temporary files that a
killed atomic write (`egohmr.files.atomic_open`) left behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from egohmr.files import TEMP_SUFFIX, atomic_write_text

__all__ = [
    "LOCK_FILE",
    "FolderLockedError",
    "JobManifest",
    "StaleOutputError",
    "claim_output_dir",
    "clean_stale_temporaries",
    "file_digest",
    "folder_digest",
    "folder_lock",
    "job_output_dir",
    "listing_digest",
    "manifest_path",
    "optional_digest",
]

LOCK_FILE = ".egohmr.lock"
MANIFEST_PREFIX = ".egohmr-job."
_OWN_FILES = (LOCK_FILE,)
_DIGESTS: dict[tuple[str, int, int], str] = {}


class StaleOutputError(ValueError):
    """An output folder holds the outputs of another job or of other inputs/parameters."""


class FolderLockedError(RuntimeError):
    """Another job is writing the output folder."""


def file_digest(path: str | os.PathLike[str]) -> str:
    """``sha256:<hex>`` of a file's content, cached within the process by (resolved path, size, mtime_ns).

    Raises:
        FileNotFoundError: `path` is not a file.
    """
    p = Path(path).resolve()
    if not p.is_file():
        raise FileNotFoundError(f"input file {path} not found")
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[key] = "sha256:" + h.hexdigest()
    return _DIGESTS[key]


def listing_digest(paths: Iterable[str | os.PathLike[str]], root: str | os.PathLike[str] | None = None) -> str:
    """``listing:<hex>``: sha256 of the sorted (name relative to `root`, size, mtime_ns) of files (missing: size -1).

    Args:
        paths: the files (e.g. the images of a split) or, for a folder, ``Path(folder).rglob("*")`` (folders skipped).
        root: names are relative to it (default: as given), so moving the whole set keeps the digest.
    """
    rows = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            continue
        name = os.path.relpath(p, root) if root is not None else str(p)
        try:
            st = p.stat()
            rows.append(f"{name}\t{st.st_size}\t{st.st_mtime_ns}")
        except FileNotFoundError:
            rows.append(f"{name}\t-1\t-1")
    return "listing:" + hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()


def folder_digest(folder: str | os.PathLike[str], job: str | None = None) -> str:
    """Digest of a folder made by a job: its manifest of name `job` when present (``manifest:<sha256>``), else the
    `listing_digest` of every file under it except lock, manifest and temporary files; "missing" if absent."""
    root = Path(folder)
    if not root.is_dir():
        return "missing"
    if job is not None and manifest_path(root, job).is_file():
        return "manifest:" + file_digest(manifest_path(root, job)).removeprefix("sha256:")
    return listing_digest((p for p in root.rglob("*") if not _is_job_file(p)), root)


def optional_digest(path: str | os.PathLike[str] | None) -> str:
    """`file_digest` of a file, `folder_digest` of a folder, "none" for None, "missing" for an absent path."""
    if path is None:
        return "none"
    p = Path(path)
    if p.is_dir():
        return folder_digest(p)
    return file_digest(p) if p.is_file() else "missing"


@dataclasses.dataclass(frozen=True)
class JobManifest:
    """What a job computes: its kind, parameters (JSON values) and input digests (name -> digest)."""

    kind: str
    parameters: dict[str, Any]
    inputs: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "parameters": self.parameters, "inputs": self.inputs}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobManifest:
        return cls(str(data.get("kind")), dict(data.get("parameters", {})), dict(data.get("inputs", {})))

    def differences(self, new: JobManifest) -> list[str]:
        """Lines ``"<what>: <old> -> <new>"`` for each kind, parameter or input that differs in `new`."""
        lines = [f"job kind: {self.kind!r} -> {new.kind!r}"] if self.kind != new.kind else []
        for label, old_d, new_d in (("parameter", self.parameters, new.parameters), ("input", self.inputs, new.inputs)):
            for key in sorted(set(old_d) | set(new_d)):
                a, b = old_d.get(key, "<absent>"), new_d.get(key, "<absent>")
                if a != b:
                    lines.append(f"{label} {key}: {a!r} -> {b!r}")
        return lines


def manifest_path(out_dir: str | os.PathLike[str], name: str) -> Path:
    """``<out_dir>/.egohmr-job.<name>.json``."""
    return Path(out_dir) / f"{MANIFEST_PREFIX}{name}.json"


def _is_temporary(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX)


def _is_job_file(path: Path) -> bool:
    name = path.name
    return name in _OWN_FILES or name.startswith(MANIFEST_PREFIX) or _is_temporary(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _holds_outputs(folder: Path, outputs: list[Path] | None) -> bool:
    """Whether any of `outputs` exists (None: any file under `folder` other than lock, manifest and temporary files)."""
    if outputs is not None:
        return any(o.exists() for o in outputs)
    return any(not _is_job_file(p) for p in folder.rglob("*") if not p.is_dir())


def claim_output_dir(
    out_dir: str | os.PathLike[str],
    manifest: JobManifest,
    overwrite: bool = False,
    outputs: Iterable[str | os.PathLike[str]] | None = None,
    name: str | None = None,
) -> bool:
    """Create `out_dir`, check that it may hold this job's outputs and store `manifest` there (module docstring).

    Args:
        out_dir: the output folder.
        manifest: this run's manifest.
        overwrite: recompute: remove the old outputs (see `outputs`) instead of refusing a different manifest or a
            foreign folder.
        outputs: the files/folders this job writes (removed under `overwrite`); None: everything in a folder that
            holds a manifest of this `name` (a foreign folder is never emptied).
        name: manifest name, for jobs sharing a folder (default: `manifest.kind`).

    Returns:
        True when earlier outputs of the same manifest may be reused (resume), False when the job starts afresh
        (new folder, other manifest, or `overwrite`).

    A different manifest in a folder without outputs (a run that failed before writing any) is simply replaced.

    Raises:
        StaleOutputError: a different manifest (lists the differences) or a foreign non-empty folder, without
            `overwrite`.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = manifest_path(folder, name or manifest.kind)
    old = JobManifest.from_json(json.loads(path.read_text())) if path.is_file() else None
    if old is not None and old == manifest and not overwrite:
        return True
    outputs = None if outputs is None else [Path(o) for o in outputs]
    entries = [p for p in folder.iterdir() if not _is_job_file(p)]
    has_manifest = any(folder.glob(MANIFEST_PREFIX + "*.json"))
    if not overwrite:
        if old is not None and _holds_outputs(folder, outputs):
            changes = "\n  ".join(old.differences(manifest))
            raise StaleOutputError(
                f"{folder} holds outputs of a run with other settings or inputs ({path}); what differs "
                f"(old -> new):\n  {changes}\n"
                "use --overwrite to recompute them, or another output folder"
            )
        if entries and not has_manifest:
            shown = ", ".join(sorted(p.name for p in entries)[:5])
            raise StaleOutputError(
                f"{folder} is not empty ({shown}{', ...' if len(entries) > 5 else ''}) and was not made by an egohmr "
                f"{manifest.kind} job; choose an empty or new output folder, or use --overwrite to write into it"
            )
    if outputs is not None:
        for out in outputs:
            _remove(out)
    elif old is not None:
        for entry in entries:
            _remove(entry)
    atomic_write_text(path, json.dumps(manifest.to_json(), indent=1, sort_keys=True))
    return False


@contextlib.contextmanager
def folder_lock(out_dir: str | os.PathLike[str], wait: bool = False) -> Iterator[None]:
    """Hold ``<out_dir>/.egohmr.lock`` (exclusive) while the body runs; creates `out_dir`.

    Args:
        out_dir: the folder.
        wait: wait for another holder to finish (a cache that ranks of one job fill together) instead of failing.

    Raises:
        FolderLockedError: another process holds the lock and `wait` is False (the message names the folder and that
            process's pid).
    """
    import fcntl

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_FILE
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise FolderLockedError(
                f"{folder} is being written by another job (pid {holder} holds {lock}); wait for it to finish or use "
                "another output folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def clean_stale_temporaries(out_dir: str | os.PathLike[str]) -> int:
    """Remove temporary files of killed atomic writes (``.<name>.<random>.egohmr.tmp``) anywhere under `out_dir`.

    Call it while holding `folder_lock` (a live writer's temporary file would be removed otherwise).

    Returns:
        The number of files removed.
    """
    removed = 0
    for root, _dirs, files in os.walk(out_dir):
        for f in files:
            p = Path(root) / f
            if _is_temporary(p):
                p.unlink(missing_ok=True)
                removed += 1
    return removed


@contextlib.contextmanager
def job_output_dir(
    out_dir: str | os.PathLike[str],
    manifest: JobManifest,
    overwrite: bool = False,
    outputs: Iterable[str | os.PathLike[str]] | None = None,
    name: str | None = None,
) -> Iterator[bool]:
    """`folder_lock`, `clean_stale_temporaries` and `claim_output_dir` in one: yields whether outputs may be reused."""
    with folder_lock(out_dir):
        clean_stale_temporaries(out_dir)
        yield claim_output_dir(out_dir, manifest, overwrite, outputs, name)
