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

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from egohmr.safe_load import read_torch_file

__all__ = ["CheckpointType", "detect_checkpoint", "read_state_dict_file"]

CheckpointType = Literal["ours", "official-stage1", "official-stage2", "prohmr", "unknown"]


def read_state_dict_file(path: str | Path) -> Any:
    """Load a `.pt`/`.ckpt` file onto the CPU as data only (`egohmr.safe_load.read_torch_file`): tensors-only files
    with `weights_only=True`, Lightning files (pickled hyper-parameters) through an allow-list unpickler.

    Raises:
        FileNotFoundError: no such file. CheckpointError: truncated, corrupt or not a PyTorch file.
        UnsafeFileError: the file names a class or function that checkpoints do not hold.
    """
    return read_torch_file(path)


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
