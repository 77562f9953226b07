"""Loading user-named files as data only: an allow-list unpickler and the readers built on it.

A pickle names the functions and classes that rebuild its objects; a plain `pickle.load` imports and calls whatever it
names (`builtins.exec`, `os.system`, ...). Every pickle egohmr reads goes through `load_pickle` / `unpickle` with an
`AllowList` of exact (module, name) pairs for that kind of file; any other name is refused before anything is
imported and the load raises `UnsafeFileError` naming the file and the refused class. Allowed functions are handed
out wrapped in `_Checked`, which checks their arguments (e.g. `copyreg._reconstructor` may only build a `StandIn`) and
cannot be modified by the pickle. Classes of other packages that real files contain (chumpy arrays in SMPL files,
yacs `CfgNode` in ProHMR's Lightning file) are replaced by inert `StandIn` classes: the foreign module is never
imported and none of its code runs.

- `read_torch_file`: `.pt`/`.ckpt` files; `torch.load(weights_only=True)` first, then, for PyTorch-Lightning files
  whose hyper-parameters are pickled objects, `torch.load` with the `TORCH_FILE` allow-list as its pickle module.
- `load_npz`: `.npz` files; members of numeric or string dtype with `allow_pickle=False`, object members (older
  annotation files) through an allow-list.
- `refuse_npz_objects`: a check for npz files that never hold object members.

See docs/security.md for the loader of every file egohmr reads.
"""

from __future__ import annotations

import codecs
import copyreg
import dataclasses
import functools
import importlib
import io
import pickle
import types
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "NUMPY_DATA",
    "RECONSTRUCTOR",
    "AllowList",
    "CheckpointError",
    "ConfigDict",
    "StandIn",
    "UnsafeFileError",
    "load_npz",
    "load_pickle",
    "read_torch_file",
    "refuse_npz_objects",
    "torch_file_allowlist",
    "unpickle",
]


class UnsafeFileError(ValueError):
    """A file names a class or function outside the allow-list of its kind; nothing of it was loaded."""


class CheckpointError(ValueError):
    """A checkpoint file cannot be used: missing, truncated or corrupt, foreign, of another kind or a newer format."""


class _Refused(pickle.UnpicklingError):
    """Raised inside the unpickler; `load_pickle` and friends turn it into `UnsafeFileError` naming the file."""


class StandIn:
    """Base of the inert classes that stand in for a file's foreign classes (whose modules are never imported).

    Keeps the constructor arguments in `args` and the pickled state in `state`. Defining `__setstate__` also means a
    pickle cannot set attributes on the class itself (BUILD applied to the class fails).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


class ConfigDict(dict, StandIn):
    """Stand-in for a yacs `CfgNode` (or Lightning `AttributeDict`): its items as a plain dict, node flags dropped."""

    def __setstate__(self, state: Any) -> None:
        pass


class _LightningCallback(StandIn):
    """Stand-in for a Lightning callback class used as a key of a checkpoint's `callbacks` dict (Lightning < 1.5)."""


# ------------------------------------------------------------------------------------------------ checked callables
class _Checked:
    """An allowed function as the unpickler sees it: `check(*args)` raises `_Refused` on arguments it does not expect.

    Has no `__dict__` and refuses `__setstate__`, so a pickle cannot change it (nor the wrapped function).
    """

    __slots__ = ("_check", "_fn", "_label")

    def __init__(self, label: str, fn: Callable[..., Any], check: Callable[..., None]) -> None:
        self._label, self._fn, self._check = label, fn, check

    def __call__(self, *args: Any) -> Any:
        self._check(*args)
        return self._fn(*args)

    def __setstate__(self, state: Any) -> None:
        raise _Refused(f"the pickle tries to modify {self._label}")

    def __repr__(self) -> str:
        return f"<allowed {self._label}>"


def _require(ok: bool, label: str, args: tuple[Any, ...]) -> None:
    if not ok:
        shown = ", ".join(type(a).__name__ for a in args)
        raise _Refused(f"refusing to call {label} with arguments of type ({shown})")


def _check_reconstruct(subtype: Any = None, *args: Any) -> None:
    _require(subtype is np.ndarray, "numpy _reconstruct", (subtype, *args))


def _check_scalar(dtype: Any = None, *args: Any) -> None:
    _require(isinstance(dtype, np.dtype), "numpy scalar", (dtype, *args))


def _check_frombuffer(buf: Any = None, dtype: Any = None, *args: Any) -> None:
    ok = isinstance(buf, bytes | bytearray | memoryview | pickle.PickleBuffer) and isinstance(dtype, np.dtype)
    _require(ok, "numpy _frombuffer", (buf, dtype, *args))


def _check_encode(text: Any = None, encoding: Any = None, *args: Any) -> None:
    _require(isinstance(text, str) and encoding in ("latin1", "latin-1") and not args, "_codecs.encode", (text,))


def _check_reconstructor(cls: Any = None, base: Any = None, *args: Any) -> None:
    """`copyreg._reconstructor(cls, base, state)` runs `base.__new__(cls, state)`: only stand-ins of plain bases."""
    ok = isinstance(cls, type) and issubclass(cls, StandIn) and base in _RECONSTRUCTOR_BASES and issubclass(cls, base)
    _require(ok and len(args) == 1, "copyreg._reconstructor", (cls, base, *args))


def _numpy_function(modules: tuple[str, ...], name: str) -> Callable[..., Any]:
    for module in modules:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"numpy provides no {name} in {modules}")


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """numpy arrays, dtypes and scalars as pickled by numpy 1.x and 2.x (module spelt either way), any protocol."""
    multiarray, numeric = (
        ("numpy._core.multiarray", "numpy.core.multiarray"),
        ("numpy._core.numeric", "numpy.core.numeric"),
    )
    reconstruct = _Checked("numpy _reconstruct", _numpy_function(multiarray, "_reconstruct"), _check_reconstruct)
    scalar = _Checked("numpy scalar", _numpy_function(multiarray, "scalar"), _check_scalar)
    frombuffer = _Checked("numpy _frombuffer", _numpy_function(numeric, "_frombuffer"), _check_frombuffer)
    out: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[(module, "_reconstruct")] = reconstruct
        out[(module, "scalar")] = scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        out[(module, "_frombuffer")] = frombuffer
    return out


# ------------------------------------------------------------------------------------------------ allow-lists
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}
"""Python-2 module names (and protocol <= 2 pickles written by Python 3) -> their Python-3 names."""


@dataclasses.dataclass(frozen=True)
class AllowList:
    """What the pickles of one kind of file may name.

    Attributes:
        exact: (module, name) -> the object the unpickler gets for that name (Python-3 module names; Python-2 names
            such as `__builtin__` are translated first).
        stand_in_modules: top-level package -> `StandIn` subclass given for every name of that package (the package
            is never imported, so no name of it can run code; used for chumpy, whose class names vary by file).
        summary: what such a file holds, for error messages.
    """

    exact: Mapping[tuple[str, str], Any]
    summary: str
    stand_in_modules: Mapping[str, type[StandIn]] = dataclasses.field(default_factory=dict)

    def extended(
        self,
        exact: Mapping[tuple[str, str], Any],
        summary: str,
        stand_in_modules: Mapping[str, type[StandIn]] | None = None,
    ) -> AllowList:
        """This allow-list plus `exact` (and `stand_in_modules`), described by `summary`."""
        return AllowList({**self.exact, **exact}, summary, {**self.stand_in_modules, **(stand_in_modules or {})})

    def resolve(self, module: str, name: str) -> Any:
        """The object for `module.name`; raises `_Refused` for anything not allowed."""
        key = (_PY2_MODULES.get(module, module), name)
        if key in self.exact:
            return self.exact[key]
        stand_in = self.stand_in_modules.get(module.split(".")[0])
        if stand_in is not None:
            return stand_in
        raise _Refused(f"refusing to load {module}.{name}")


NUMPY_DATA = AllowList(
    exact={
        **_numpy_globals(),
        ("_codecs", "encode"): _Checked("_codecs.encode", codecs.encode, _check_encode),  # bytes, protocol <= 2
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("collections", "OrderedDict"): OrderedDict,
    },
    summary="numpy arrays and plain Python values",
)
"""Results pickles, `transf_matrices_all_seqs.pkl`, scene pickles, object members of annotation npz files."""

_RECONSTRUCTOR_BASES = (object, dict, list)

RECONSTRUCTOR = {
    ("copyreg", "_reconstructor"): _Checked("copyreg._reconstructor", copyreg._reconstructor, _check_reconstructor),
    **{("builtins", base.__name__): base for base in _RECONSTRUCTOR_BASES},
}
"""Protocol 0/1 pickles of class instances (Python-2 SMPL files, protocol-1 config nodes): `copyreg._reconstructor`
and the bases it names; it builds `StandIn` subclasses only."""


@functools.cache
def torch_file_allowlist() -> AllowList:
    """Pickled parts of PyTorch-Lightning `.ckpt`/`.pt` files (ProHMR's `checkpoints.pt`).

    Tensors (rebuilt from the file's own storages, no backward hooks), `torch.Size`, numpy values, plain containers,
    yacs `CfgNode` / Lightning `AttributeDict` as `ConfigDict`, and Lightning's `ModelCheckpoint` class as a dict key.
    """
    import torch

    def check_tensor(storage: Any = None, offset: Any = None, size: Any = None, stride: Any = None, *rest: Any) -> None:
        hooks = rest[1] if len(rest) > 1 else None
        ok = isinstance(storage, torch.storage.TypedStorage) and isinstance(size, tuple) and not hooks
        _require(ok, "torch._utils._rebuild_tensor_v2", (storage, size, *rest))

    def check_parameter(data: Any = None, requires_grad: Any = None, hooks: Any = None, *rest: Any) -> None:
        _require(isinstance(data, torch.Tensor) and not hooks and not rest, "torch._utils._rebuild_parameter", (data,))

    utils = torch._utils
    return NUMPY_DATA.extended(
        {
            ("torch._utils", "_rebuild_tensor_v2"): _Checked(
                "torch._utils._rebuild_tensor_v2", utils._rebuild_tensor_v2, check_tensor
            ),
            ("torch._utils", "_rebuild_parameter"): _Checked(
                "torch._utils._rebuild_parameter", utils._rebuild_parameter, check_parameter
            ),
            ("torch", "Size"): torch.Size,
            **RECONSTRUCTOR,  # config nodes in protocol-1 files
            ("yacs.config", "CfgNode"): ConfigDict,
            ("pytorch_lightning.utilities.parsing", "AttributeDict"): ConfigDict,
            ("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint"): _LightningCallback,
        },
        summary="tensors, numpy arrays, plain Python values and yacs config nodes",
    )


# ------------------------------------------------------------------------------------------------ pickles
class _AllowListUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose `find_class` consults an `AllowList` (never imports a module)."""

    def __init__(self, file: IO[bytes], *, allow: AllowList, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.allow = allow

    def find_class(self, module: str, name: str) -> Any:
        return self.allow.resolve(module, name)


def _refusal(where: str, err: _Refused, allow: AllowList, what: str) -> UnsafeFileError:
    return UnsafeFileError(f"{where}: {err}; {what} files hold only {allow.summary}, so the file was not loaded")


def unpickle(stream: IO[bytes], allowed: AllowList, *, where: str, what: str) -> Any:
    """Unpickle one object from `stream` with `allowed` (Python-2 strings decoded as latin-1).

    Raises:
        UnsafeFileError: the pickle names something outside `allowed` (message: `where`, the name, `what`).
        ValueError: not a readable pickle (truncated, corrupt).
    """
    try:
        return _AllowListUnpickler(stream, allow=allowed, encoding="latin1").load()
    except _Refused as err:
        raise _refusal(where, err, allowed, what) from None
    except Exception as err:  # noqa: BLE001 - any failure of a data-only load means an unreadable file
        raise ValueError(f"{where}: not a readable {what} ({type(err).__name__}: {err})") from None


def load_pickle(path: str | Path, allowed: AllowList = NUMPY_DATA, what: str = "pickle") -> Any:
    """Read the pickle file `path` with the allow-list `allowed`; `what` names the kind of file in messages.

    Raises:
        FileNotFoundError: no such file. UnsafeFileError: a name outside `allowed`. ValueError: unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    with path.open("rb") as fh:
        return unpickle(fh, allowed, where=str(path), what=what)


# ------------------------------------------------------------------------------------------------ npz files
def _npy_header(fh: IO[bytes]) -> np.dtype | None:
    """dtype of the `.npy` stream at `fh` (left after its header), or None for format versions without a reader."""
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fh)[2]
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fh)[2]
    return None


def _read_member(raw: bytes, objects: AllowList | None, where: str, what: str) -> np.ndarray:
    stream = io.BytesIO(raw)
    try:
        dtype = _npy_header(stream)
        if dtype is None or not dtype.hasobject:
            return np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
    except ValueError as err:
        raise ValueError(f"{where}: not a readable {what} member ({err})") from None
    if objects is None:
        raise UnsafeFileError(
            f"{where}: holds an object array (a pickle); {what} files hold only numeric and string arrays"
        )
    array = unpickle(stream, objects, where=where, what=what)
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{where}: expected an array, got {type(array).__name__}")
    return array


def load_npz(path: str | Path, what: str, objects: AllowList | None = NUMPY_DATA) -> dict[str, np.ndarray]:
    """Read every member of the `.npz` file `path`: numeric and string members with `allow_pickle=False`, object
    members (pickles) with the allow-list `objects` (None refuses them).

    Raises:
        FileNotFoundError: no such file. UnsafeFileError: an object member names something not allowed.
        ValueError: not a readable npz file (message names the file and member).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for member in zf.namelist():
                key = member[: -len(".npy")] if member.endswith(".npy") else member
                out[key] = _read_member(zf.read(member), objects, f"{path}: member {key!r}", what)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ValueError(f"{path}: not a readable {what} ({type(err).__name__}: {err})") from None
    return out


def refuse_npz_objects(path: str | Path, what: str) -> None:
    """Raise `UnsafeFileError` naming `path` and the member if the npz file holds an object (pickled) member.

    Unreadable files are left for the caller's `np.load(..., allow_pickle=False)` to report.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            dtypes = {}
            for member in zf.namelist():
                with zf.open(member) as fh:
                    dtypes[member] = _npy_header(fh)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return
    for member, dtype in dtypes.items():
        if dtype is not None and dtype.hasobject:
            raise UnsafeFileError(
                f"{path}: member {member!r} holds an object array (a pickle); {what} files hold only numeric and "
                "string arrays, so the file was not loaded"
            )


# ------------------------------------------------------------------------------------------------ torch files
class _TorchFileUnpickler(_AllowListUnpickler):
    """The unpickler `torch.load` uses for Lightning files (torch subclasses it to resolve storage types)."""

    def __init__(self, file: IO[bytes], **kwargs: Any) -> None:
        super().__init__(file, allow=torch_file_allowlist(), **kwargs)


def _restricted_load(file: IO[bytes], **kwargs: Any) -> Any:
    return _TorchFileUnpickler(file, **kwargs).load()


_TORCH_PICKLE_MODULE = types.SimpleNamespace(
    Unpickler=_TorchFileUnpickler, load=_restricted_load, __name__="egohmr.safe_load"
)


def _is_torchscript(path: Path) -> bool:
    """True for a `torch.jit.save` archive (`torch.load` would hand it to `torch.jit.load`)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any(name.endswith("constants.pkl") for name in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False  # left for torch.load to report as corrupt


def read_torch_file(path: str | Path) -> Any:
    """Load a `.pt`/`.ckpt` file onto the CPU as data only.

    Tensors-only files (ours, the official EgoHMR `{'state_dict': ...}` files) load with `weights_only=True`;
    PyTorch-Lightning files (ProHMR's `checkpoints.pt`, pickled hyper-parameters) with the `torch_file_allowlist`
    unpickler, which gives yacs `CfgNode`s back as `ConfigDict`. TorchScript archives are refused.

    Raises:
        FileNotFoundError: no such file. CheckpointError: truncated, corrupt or not a PyTorch file.
        UnsafeFileError: the file names a class or function outside the allow-list (message names it).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path} ({path.stat().st_size} bytes) is not a PyTorch checkpoint: truncated, corrupt or another format"
        )
    if _is_torchscript(path):
        raise UnsafeFileError(f"{path} is a TorchScript archive (code), not a checkpoint; it was not loaded")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass  # pickled objects besides tensors: a Lightning file, or something worse
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path} is corrupt or truncated: {type(err).__name__}: {err}") from None
    allow = torch_file_allowlist()
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_TORCH_PICKLE_MODULE)
    except _Refused as err:
        raise _refusal(str(path), err, allow, "checkpoint") from None
    except Exception as err:  # noqa: BLE001 - any failure of a data-only load means an unreadable file
        raise CheckpointError(f"{path} could not be read: {type(err).__name__}: {err}") from None
