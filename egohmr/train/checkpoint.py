"""The egohmr training checkpoint: one self-describing file, written atomically, read with clear errors.

A checkpoint is a `torch.save`d dict (loadable with `torch.load(weights_only=True)`: tensors and plain values only):

| key | content |
| --- | --- |
| `format_version` | int, `FORMAT_VERSION` when written |
| `kind` | str naming what the weights are, e.g. "egohmr.stage1", "egohmr.stage2" (given by the caller) |
| `model` | state dict of the unwrapped module (no DDP prefix) to evaluate: the weight average with `ema_decay` |
| `train_model` | the weights being trained when `model` holds their average (`egohmr.train.ema`), else None |
| `ema` | `WeightEMA.state_dict()` (decay, updates) when averaging, else None |
| `optimizer` | AdamW state dict (None in weights-only exports) |
| `scaler` | GradScaler state dict ({} when AMP is off) |
| `step` | int, optimizer updates completed |
| `best` | {"metric": str, "mode": "min"/"max", "value": float or None, "step": int or None} |
| `config` | plain dict of the resolved run config (architecture fields are read from here at test time) |
| `extras` | dict of what the model needs at test time besides weights (e.g. stage-2 pose normalisation stats) |
| `rng` | list, one `egohmr.train.rng.capture_rng_state` dict per rank (its length is the world size) |
| `model_train_state` | dict from the model's optional `train_state_dict()` (e.g. a discriminator optimizer) or None |

Official EgoHMR files are plain `{'state_dict': ...}` and ProHMR's are PyTorch-Lightning files; `load_checkpoint`
recognises both and says which importer to use instead.
"""

from __future__ import annotations

import dataclasses
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from egohmr.files import atomic_torch_save
from egohmr.safe_load import CheckpointError

__all__ = [
    "FORMAT_VERSION",
    "IMPORTER_HINTS",
    "Checkpoint",
    "CheckpointError",
    "KeyMismatch",
    "build_checkpoint",
    "load_checkpoint",
    "load_state_dict_checked",
    "report_key_mismatch",
    "save_checkpoint",
]

FORMAT_VERSION = 1
"""Version of the layout above. Bump it when a key changes meaning; `load_checkpoint` refuses newer versions."""

REQUIRED_KEYS = ("format_version", "kind", "model", "step", "config")

IMPORTER_HINTS: dict[str, str] = {
    "official-stage1": "the stage-1 model's official-checkpoint importer, which maps the official keys explicitly "
    "(see docs/training.md, 'Official checkpoints')",
    "official-stage2": "the stage-2 model's official-checkpoint importer, together with the run's "
    "preprocess_stats/preprocess_stats.npz (see docs/training.md, 'Official checkpoints')",
    "prohmr": "the ProHMR backbone initialiser of the stage-1 model, which copies `backbone.*` "
    "(see docs/training.md, 'Official checkpoints')",
}
"""What to tell a user who passes a foreign file, by file type. The stage modules own the importers."""


@dataclasses.dataclass
class Checkpoint:
    """A loaded egohmr checkpoint (field meanings in the module docstring)."""

    path: Path
    format_version: int
    kind: str
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any] | None
    scaler: dict[str, Any] | None
    step: int
    best: dict[str, Any]
    config: dict[str, Any]
    extras: dict[str, Any]
    rng: list[dict[str, Any]] | None
    model_train_state: dict[str, Any] | None
    train_model: dict[str, torch.Tensor] | None = None
    ema: dict[str, Any] | None = None


def build_checkpoint(
    *,
    kind: str,
    model_state: Mapping[str, torch.Tensor],
    step: int,
    config: Mapping[str, Any],
    optimizer_state: Mapping[str, Any] | None = None,
    scaler_state: Mapping[str, Any] | None = None,
    best: Mapping[str, Any] | None = None,
    extras: Mapping[str, Any] | None = None,
    rng: list[dict[str, Any]] | None = None,
    model_train_state: Mapping[str, Any] | None = None,
    train_model_state: Mapping[str, torch.Tensor] | None = None,
    ema_state: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the checkpoint dict (see the module docstring); tensors are stored as they are given."""
    if not kind:
        raise ValueError("build_checkpoint: `kind` must be a non-empty string such as 'egohmr.stage1'")
    return {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "model": dict(model_state),
        "optimizer": None if optimizer_state is None else dict(optimizer_state),
        "scaler": None if scaler_state is None else dict(scaler_state),
        "step": int(step),
        "best": dict(best) if best is not None else {"metric": None, "mode": None, "value": None, "step": None},
        "config": dict(config),
        "extras": dict(extras or {}),
        "rng": rng,
        "model_train_state": None if model_train_state is None else dict(model_train_state),
        "train_model": None if train_model_state is None else dict(train_model_state),
        "ema": None if ema_state is None else dict(ema_state),
    }


def save_checkpoint(payload: Mapping[str, Any], path: str | Path) -> None:
    """Write a `build_checkpoint` dict to `path` atomically (the old file stays intact if anything fails)."""
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise ValueError(f"save_checkpoint({path}): payload lacks {missing}; build it with build_checkpoint")
    atomic_torch_save(dict(payload), path)


def _describe_foreign(path: Path, data: Any) -> str:
    """Message for a file that loads but is not an egohmr checkpoint."""
    if not isinstance(data, Mapping):
        return f"{path} is not an egohmr checkpoint: it holds a {type(data).__name__}, not a dict"
    keys = sorted(str(k) for k in data)
    shown = keys[:12] + (["..."] if len(keys) > 12 else [])
    state = data.get("state_dict")
    if isinstance(state, Mapping):
        names = [str(k) for k in state]
        lightning = any(str(k).startswith("pytorch-lightning") for k in data) or "global_step" in data
        if lightning:
            return (
                f"{path} is a PyTorch-Lightning checkpoint (ProHMR-style, top-level keys {shown}), not an egohmr "
                f"checkpoint; use {IMPORTER_HINTS['prohmr']}"
            )
        if any(n.startswith("diffusion_model.") for n in names):
            return (
                f"{path} is an official EgoHMR stage-2 checkpoint (a plain {{'state_dict': ...}} with "
                "`diffusion_model.*` weights), not an egohmr training checkpoint; use "
                f"{IMPORTER_HINTS['official-stage2']}"
            )
        if any(n.startswith("flow.") for n in names):
            return (
                f"{path} is an official EgoHMR stage-1 checkpoint (a plain {{'state_dict': ...}} with `flow.*` "
                f"weights), not an egohmr training checkpoint; use {IMPORTER_HINTS['official-stage1']}"
            )
        return (
            f"{path} is a plain {{'state_dict': ...}} file ({len(names)} tensors, e.g. {names[:3]}), not an egohmr "
            "checkpoint; official EgoHMR/ProHMR files need their importer (see docs/training.md)"
        )
    return f"{path} is not an egohmr checkpoint: no `format_version` key (top-level keys: {shown})"


def _torch_load(path: Path, map_location: str | torch.device) -> Any:
    """`torch.load(weights_only=True)` with errors translated into CheckpointError."""
    size = path.stat().st_size
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path} ({size} bytes) is not a complete PyTorch checkpoint: it is truncated or corrupt (e.g. a copy or "
            "download that stopped early), or not a PyTorch file at all"
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        if found is None:  # the pickle stream itself is damaged
            detail = text.strip().splitlines()[-3:] if text.strip() else [type(err).__name__]
            raise CheckpointError(f"{path} ({size} bytes) is corrupt: {' '.join(detail)[:300]}") from None
        raise CheckpointError(
            f"{path} holds pickled Python objects besides tensors (e.g. {found.group(1)}), which egohmr checkpoints "
            "never do, so it is not one of ours and is not unpickled (a PyTorch-Lightning file such as ProHMR's "
            f"checkpoints.pt? use {IMPORTER_HINTS['prohmr']})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path} ({size} bytes) is corrupt or truncated: {type(err).__name__}: {err}") from None


def load_checkpoint(
    path: str | Path, expected_kind: str | None = None, map_location: str | torch.device = "cpu"
) -> Checkpoint:
    """Read an egohmr checkpoint.

    Args:
        path: a `.pt` file written by `save_checkpoint` (`last.pt`, `best.pt` of a run folder).
        expected_kind: if given (e.g. "egohmr.stage1"), a checkpoint of another kind is an error.
        map_location: where tensors are loaded (default CPU).

    Returns:
        The checkpoint; architecture fields should be taken from `checkpoint.config`.

    Raises:
        FileNotFoundError: `path` does not exist or is a folder.
        CheckpointError: the file is truncated or corrupt, foreign (official EgoHMR `{'state_dict': ...}`, ProHMR
            Lightning, anything else; the message names the importer to use), of another kind, or from a newer
            egohmr.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise FileNotFoundError(f"checkpoint path {path} is a folder; pass a file such as {path / 'last.pt'}")
    data = _torch_load(path, map_location)
    if not isinstance(data, Mapping) or "format_version" not in data:
        raise CheckpointError(_describe_foreign(path, data))
    version = data["format_version"]
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path}: invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format_version {version}, newer than this egohmr understands ({FORMAT_VERSION}); "
            "update egohmr to read it"
        )
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks required key(s) {missing}; the file is damaged")
    kind = data["kind"]
    if expected_kind is not None and kind != expected_kind:
        raise CheckpointError(
            f"{path} is a {kind!r} checkpoint but a {expected_kind!r} checkpoint is needed here "
            "(a checkpoint of the other stage? pass the run folder of the right stage)"
        )
    return Checkpoint(
        path=path,
        format_version=version,
        kind=kind,
        model=dict(data["model"]),
        optimizer=data.get("optimizer"),
        scaler=data.get("scaler"),
        step=int(data["step"]),
        best=dict(data.get("best") or {}),
        config=dict(data["config"]),
        extras=dict(data.get("extras") or {}),
        rng=data.get("rng"),
        model_train_state=data.get("model_train_state"),
        train_model=data.get("train_model"),
        ema=data.get("ema"),
    )


@dataclasses.dataclass(frozen=True)
class KeyMismatch:
    """How a state dict differs from what a model expects."""

    missing: tuple[str, ...]
    """Keys the model has and the state dict lacks."""
    unexpected: tuple[str, ...]
    """Keys of the state dict the model does not have."""
    shape_mismatch: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]
    """(key, shape in the model, shape in the state dict) for keys present in both."""

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.shape_mismatch)

    def summary(self, max_items: int = 200) -> str:
        """Multi-line listing of every problem by key name (at most `max_items` per list)."""
        if self.ok:
            return "state dict matches the model"

        def listing(items: list[str]) -> list[str]:
            shown = [f"  {item}" for item in items[:max_items]]
            if len(items) > max_items:
                shown.append(f"  ... and {len(items) - max_items} more")
            return shown

        lines: list[str] = []
        if self.missing:
            lines.append(f"missing keys ({len(self.missing)}, in the model but not in the state dict):")
            lines += listing(list(self.missing))
        if self.unexpected:
            lines.append(f"unexpected keys ({len(self.unexpected)}, in the state dict but not in the model):")
            lines += listing(list(self.unexpected))
        if self.shape_mismatch:
            lines.append(f"shape mismatches ({len(self.shape_mismatch)}, model vs state dict):")
            lines += listing([f"{k}: {list(a)} vs {list(b)}" for k, a, b in self.shape_mismatch])
        return "\n".join(lines)


def report_key_mismatch(
    model: nn.Module | Mapping[str, torch.Tensor],
    state_dict: Mapping[str, Any],
    ignore_prefixes: tuple[str, ...] = (),
) -> KeyMismatch:
    """Compare a state dict with a model's (or with an expected state dict) by key name and shape.

    Args:
        model: the module to load into, or its expected state dict.
        state_dict: the weights to load.
        ignore_prefixes: keys starting with one of these are left out on both sides (e.g. ("smpl",) as the official
            stage-1 test does).

    Returns:
        The missing, unexpected and shape-mismatched keys, each sorted by name.
    """
    expected = model.state_dict() if isinstance(model, nn.Module) else model

    def keep(key: str) -> bool:
        return not any(key.startswith(prefix) for prefix in ignore_prefixes)

    want = {k: v for k, v in expected.items() if keep(k)}
    have = {k: v for k, v in state_dict.items() if keep(k)}
    shapes = []
    for key in sorted(set(want) & set(have)):
        a, b = want[key], have[key]
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape != b.shape:
            shapes.append((key, tuple(a.shape), tuple(b.shape)))
    return KeyMismatch(
        missing=tuple(sorted(set(want) - set(have))),
        unexpected=tuple(sorted(set(have) - set(want))),
        shape_mismatch=tuple(shapes),
    )


def load_state_dict_checked(
    model: nn.Module,
    state_dict: Mapping[str, Any],
    *,
    strict: bool = True,
    ignore_prefixes: tuple[str, ...] = (),
    source: str = "state dict",
) -> KeyMismatch:
    """Load `state_dict` into `model`, reporting mismatched keys by name.

    Args:
        model: the module to load into.
        state_dict: the weights.
        strict: True raises on any mismatch; False loads the matching keys of equal shape and returns the report.
        ignore_prefixes: keys starting with these are neither loaded nor reported.
        source: name of where the weights come from, for the error message (e.g. a file path).

    Returns:
        The mismatch report (empty when everything matched).

    Raises:
        CheckpointError: `strict` and the keys or shapes differ; the message lists them.
    """
    report = report_key_mismatch(model, state_dict, ignore_prefixes)
    if strict and not report.ok:
        raise CheckpointError(f"{source} does not fit {type(model).__name__}:\n{report.summary()}")
    bad_shapes = {key for key, _, _ in report.shape_mismatch}
    filtered = {
        k: v
        for k, v in state_dict.items()
        if k not in bad_shapes and not any(k.startswith(prefix) for prefix in ignore_prefixes)
    }
    model.load_state_dict(filtered, strict=False)
    return report
