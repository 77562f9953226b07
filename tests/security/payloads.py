"""Malicious pickle payloads that create a marker file when unpickled, and fake foreign classes for legitimate files.

Each payload is an object whose pickle calls something dangerous on load: `exec`, `eval`, `os.system`,
`subprocess.Popen` / `subprocess.run`, `open` (write mode), a `getattr` chain on `__import__('os')`, or a nested
`pickle.loads`. `PAYLOADS` pairs each with the name the loader must report as refused.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROTOCOLS = tuple(range(pickle.HIGHEST_PROTOCOL + 1))
"""Every pickle protocol (0..5)."""


class Call:
    """Pickles as `func(*args)`: unpickling it calls `func` (itself a `Call` for chains)."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args

    def __call__(self, *args: Any) -> None:  # pickle requires the reduce function to be callable
        raise AssertionError("never called while pickling")


def _touch_code(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


@dataclass(frozen=True)
class Payload:
    """A way to run code from a pickle: `build(marker)` -> object; `refused`: the name a safe loader must refuse."""

    id: str
    build: Callable[[Path], Any]
    refused: str


PAYLOADS: tuple[Payload, ...] = (
    Payload("exec", lambda m: Call(exec, _touch_code(m)), "exec"),
    Payload("eval", lambda m: Call(eval, _touch_code(m)), "eval"),
    Payload("os_system", lambda m: Call(os.system, f"touch '{m}'"), "system"),
    Payload("subprocess_popen", lambda m: Call(subprocess.Popen, ["touch", str(m)]), "Popen"),
    Payload("subprocess_run", lambda m: Call(subprocess.run, ["touch", str(m)]), "run"),
    Payload("open_for_write", lambda m: Call(open, str(m), "w"), "open"),
    Payload(
        "getattr_chain",
        lambda m: Call(Call(getattr, Call(__import__, "os"), "system"), f"touch '{m}'"),
        "getattr",
    ),
    Payload("nested_pickle", lambda m: Call(pickle.loads, pickle.dumps(Call(exec, _touch_code(m)))), "loads"),
)


def run_unsafely(data: bytes) -> None:
    """What a plain `pickle.loads` does with a payload (to show the payloads work); waits for a started process."""
    obj = pickle.loads(data)
    if isinstance(obj, subprocess.Popen):
        obj.wait()
    elif hasattr(obj, "close"):
        obj.close()


def foreign_class(module: str, name: str, base: type = object) -> type:
    """A class that pickles as `module.name` while `importable` holds it (no such package needs to be installed)."""
    return type(name, (base,), {"__module__": module, "__qualname__": name})


CfgNode = foreign_class("yacs.config", "CfgNode", dict)
"""Stands for yacs' `CfgNode` (a dict subclass), which ProHMR's Lightning file pickles in its hyper-parameters."""
ModelCheckpoint = foreign_class("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint")
"""Stands for Lightning's callback class, a key of the `callbacks` dict of Lightning (< 1.5) files."""


@contextlib.contextmanager
def importable(*classes: type) -> Iterator[None]:
    """Make `classes` importable under their `__module__` while the block runs (to pickle them); the fake modules
    are removed afterwards."""
    saved: dict[str, Any] = {}
    for cls in classes:
        parts = cls.__module__.split(".")
        for i in range(len(parts)):
            name = ".".join(parts[: i + 1])
            if name not in saved:
                saved[name] = sys.modules.get(name)
                sys.modules[name] = types.ModuleType(name)
        setattr(sys.modules[cls.__module__], cls.__qualname__, cls)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def assert_refused(err: BaseException, path: Path, refused: str, marker: Path) -> None:
    """The error names the file and the refused name, and the payload left no marker."""
    text = str(err)
    assert str(path) in text, text
    assert refused in text, text
    assert not marker.exists(), f"payload ran: {marker} exists"
