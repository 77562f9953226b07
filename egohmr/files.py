"""Atomic file writing: a reader sees either the old file or the complete new one, never a partial write.

Every writer here writes to a temporary file ``.<destination name>.<random>.egohmr.tmp`` in the destination's folder
(same file system; the fixed `TEMP_SUFFIX` lets `egohmr.jobs.clean_stale_temporaries` find what a killed writer left),
flushes and fsyncs it, then renames it over the destination with `os.replace` (atomic on POSIX and Windows) and fsyncs
the folder where the platform allows it. If the writer raises, the temporary file is removed and the destination is
left untouched.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "TEMP_SUFFIX",
    "atomic_open",
    "atomic_pickle_dump",
    "atomic_save_npy",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_text",
]

TEMP_SUFFIX = ".egohmr.tmp"
"""Name ending of the temporary files of the atomic writers."""


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", encoding: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside `path` for writing; on a clean exit it replaces `path` atomically.

    Args:
        path: destination file. Its folder must exist.
        mode: "wb" (binary) or "w" (text).
        encoding: text encoding for mode "w" (default UTF-8).

    Yields:
        The open temporary file. If the body of the `with` block raises, the temporary file is deleted, `path` keeps
        its old content (or stays absent) and the exception propagates.

    Raises:
        ValueError: an unsupported mode.
        FileNotFoundError: the destination folder does not exist.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open: mode must be 'wb' or 'w', got {mode!r}")
    dest = Path(path)
    folder = dest.parent if str(dest.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {dest}: folder {folder} does not exist")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=TEMP_SUFFIX, dir=folder)
    tmp = Path(tmp_name)
    try:
        if mode == "w":
            handle: IO[Any] = open(fd, "w", encoding=encoding or "utf-8", newline="")
        else:
            handle = open(fd, "wb")
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600 files; give the result the usual permissions for a new file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(folder)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` atomically (see the module docstring)."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `path` atomically (see the module docstring)."""
    with atomic_open(path, "w", encoding=encoding) as f:
        f.write(text)


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """`torch.save(obj, path)` atomically: streamed to a temporary file that replaces `path` only when complete."""
    import torch

    with atomic_open(path, "wb") as f:
        torch.save(obj, f)


def atomic_pickle_dump(obj: Any, path: str | os.PathLike[str], protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
    """`pickle.dump(obj, f, protocol)` to `path` atomically (the official results files use protocol 2)."""
    with atomic_open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


def atomic_save_npy(path: str | os.PathLike[str], array: Any) -> None:
    """``np.save`` to ``path`` atomically (no pickles), creating its folder."""
    import numpy as np

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        np.save(f, np.asarray(array), allow_pickle=False)
