"""Reading any checkpoint file of either stage and telling what it holds.

`read_state_dict_file` loads our checkpoints, the official EgoHMR files (`{'state_dict': ...}`) and ProHMR's
PyTorch-Lightning files onto the CPU; `detect_checkpoint` classifies the loaded object, so each stage's
`checkpoint.load` picks its importer from the file's content:

- "ours": an `egohmr.train.checkpoint` file (training or shipped), recognised by `format_version` and `kind`;
- "official-stage1": `state_dict` with `flow.flow.*` keys (`checkpoints_egohmr/53618/best_model.pt`);
- "official-stage2": `state_dict` with `diffusion_model.*` keys (`91453/best_model_mpjpe_vis.pt`);
- "prohmr": a Lightning file (`pytorch-lightning_version`, `global_step` or `epoch`), ProHMR's `checkpoints.pt`.
"""

from __future__ import annotations

import pickle
import types
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch

from egohmr.train.checkpoint import CheckpointError

__all__ = ["CheckpointType", "detect_checkpoint", "read_state_dict_file"]

CheckpointType = Literal["ours", "official-stage1", "official-stage2", "prohmr", "unknown"]


class _Opaque(dict):
    """Stand-in for a class that is not importable here (e.g. yacs CfgNode in a Lightning file's hyper-parameters)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def __setstate__(self, state: Any) -> None:
        self["__state__"] = state


class _TolerantUnpickler(pickle.Unpickler):
    """Rebuilds torch/numpy/builtin objects; any other class becomes `_Opaque` (its code is never run)."""

    _TRUSTED = ("torch", "collections", "numpy", "builtins", "_codecs", "copyreg")

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] in self._TRUSTED:
            return super().find_class(module, name)
        return _Opaque


_TOLERANT_PICKLE = types.SimpleNamespace(Unpickler=_TolerantUnpickler, load=pickle.load, __name__="egohmr_tolerant")


def read_state_dict_file(path: str | Path) -> Any:
    """Load a `.pt`/`.ckpt` file onto the CPU: tensors-only files with `weights_only=True`; Lightning files (with
    pickled hyper-parameters) with an unpickler that replaces unknown classes by inert placeholders.

    Raises:
        FileNotFoundError: no such file. CheckpointError: truncated, corrupt or not a PyTorch file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path} ({path.stat().st_size} bytes) is not a PyTorch checkpoint: truncated, corrupt or another format"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path} is corrupt or truncated: {type(err).__name__}: {err}") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_TOLERANT_PICKLE)
    except Exception as err:  # noqa: BLE001 - any failure here means an unreadable file
        raise CheckpointError(f"{path} could not be read: {type(err).__name__}: {err}") from None


def detect_checkpoint(data: Any) -> CheckpointType:
    """Classify a loaded checkpoint object (see the module docstring)."""
    if not isinstance(data, Mapping):
        return "unknown"
    if "format_version" in data and "kind" in data:
        return "ours"
    state = data.get("state_dict")
    if not isinstance(state, Mapping):
        return "unknown"
    names = [str(k) for k in state]
    if "pytorch-lightning_version" in data or "global_step" in data or "epoch" in data:
        return "prohmr"
    if any(n.startswith("diffusion_model.") for n in names):
        return "official-stage2"
    if any(n.startswith("flow.flow.") for n in names):
        return "official-stage1"
    return "unknown"
