"""Global random-number-generator states: capture, restore, seed, and isolate.

The training loop is the top level of a run (like the CLI), so it is the one place that seeds the global generators
(torch CPU and CUDA, numpy's legacy global generator, Python's `random`), which dropout and sampling inside models
draw from. Library functions below it take explicit generators. States are stored in checkpoints as tensors and
plain Python values, so they load with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

__all__ = ["capture_rng_state", "isolated_rng", "mix_seed", "restore_rng_state", "seed_everything"]

_MASK64 = (1 << 64) - 1


def mix_seed(*values: int) -> int:
    """Deterministic 63-bit seed from a tuple of integers (SplitMix64 finaliser over each value).

    Used for per-(seed, epoch), per-(seed, epoch, index) and per-(seed, step) seeds; unlike Python's `hash` it does
    not change between processes.
    """
    x = 0x9E3779B97F4A7C15
    for value in values:
        x = (x ^ (int(value) & _MASK64)) & _MASK64
        x = (x + 0x9E3779B97F4A7C15) & _MASK64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
        x ^= x >> 31
    return x & ((1 << 63) - 1)


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and every CUDA device), numpy's global generator and Python's `random` with `seed`."""
    torch.manual_seed(seed)  # also seeds all CUDA devices
    np.random.seed(seed % (1 << 32))  # noqa: NPY002 (the global generator is what this manages)
    random.seed(seed)


def capture_rng_state(device: torch.device | None = None) -> dict[str, Any]:
    """Current states of the global generators of this process.

    Args:
        device: a CUDA device whose generator is included; None or a CPU device leaves it out.

    Returns:
        {"torch": uint8 tensor, "cuda": uint8 tensor or None, "numpy": {"key": (624,) int64 tensor, "pos": int,
        "has_gauss": int, "gauss": float}, "python": tuple}.
    """
    name, key, pos, has_gauss, gauss = np.random.get_state(legacy=True)  # noqa: NPY002 (the global generator is what this manages)
    cuda_state = None
    if device is not None and device.type == "cuda":
        cuda_state = torch.cuda.get_rng_state(device)
    return {
        "torch": torch.get_rng_state(),
        "cuda": cuda_state,
        "numpy": {
            "name": str(name),
            "key": torch.from_numpy(np.asarray(key, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": random.getstate(),
    }


def _to_tuple(value: Any) -> Any:
    """Lists (as checkpoints may store them) back to the nested tuples `random.setstate` expects."""
    if isinstance(value, list | tuple):
        return tuple(_to_tuple(v) for v in value)
    return value


def restore_rng_state(state: dict[str, Any], device: torch.device | None = None) -> None:
    """Set the global generators from a `capture_rng_state` dict (the CUDA part only if `device` is CUDA)."""
    torch.set_rng_state(state["torch"].cpu())
    if device is not None and device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)
    np_state = state["numpy"]
    key = np_state["key"].numpy().astype(np.uint32)
    np.random.set_state((np_state["name"], key, np_state["pos"], np_state["has_gauss"], np_state["gauss"]))  # noqa: NPY002 (the global generator is what this manages)
    random.setstate(_to_tuple(state["python"]))


@contextlib.contextmanager
def isolated_rng(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Run a block with the global generators seeded by `seed`, then put the previous states back.

    Validation runs inside this, so it is reproducible and leaves the training random stream untouched.
    """
    saved = capture_rng_state(device)
    seed_everything(seed)
    try:
        yield
    finally:
        restore_rng_state(saved, device)
