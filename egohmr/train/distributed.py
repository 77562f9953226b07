"""Process-group set-up for `torchrun` and the few collectives the training loop needs.

`torchrun --nproc_per_node N ...` starts N processes and sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
MASTER_PORT in their environment. Without those variables (a plain `python` or `egohmr` call) everything here is a
no-op for a single process, so the loop is written once.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import torch
import torch.distributed as dist

__all__ = [
    "DistContext",
    "all_gather_objects",
    "all_reduce_gradients",
    "any_rank_each",
    "barrier",
    "broadcast_buffers",
    "resolve_device",
    "setup_distributed",
    "teardown_distributed",
]


@dataclasses.dataclass(frozen=True)
class DistContext:
    """Where this process sits in a (possibly single-process) run."""

    rank: int
    """Global rank (0 for a single process)."""
    local_rank: int
    """Rank on this node; selects the GPU cuda:LOCAL_RANK."""
    world_size: int
    """Number of processes (1 for a single process)."""
    device: torch.device
    """Device of this process."""
    owns_process_group: bool
    """True when `setup_distributed` created the process group (and `teardown_distributed` destroys it)."""

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs and writes files."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"environment variable {name}={text!r} is not an integer (set by torchrun)") from None


def resolve_device(
    preference: Literal["auto", "cpu", "cuda"], local_rank: int = 0, setting: str = "train.device"
) -> torch.device:
    """Device of this process: "auto" -> cuda:LOCAL_RANK when CUDA is available, else CPU.

    Args:
        preference: "auto", "cpu" or "cuda".
        local_rank: GPU index of this process (torchrun's LOCAL_RANK).
        setting: the config key or flag the preference came from, named in errors (e.g. "--device").

    Raises:
        ValueError: "cuda" was asked for but CUDA is not available, or LOCAL_RANK exceeds the GPU count.
    """
    if preference not in ("auto", "cpu", "cuda"):
        raise ValueError(f"{setting}: expected 'auto', 'cpu' or 'cuda', got {preference!r}")
    use_cuda = preference == "cuda" or (preference == "auto" and torch.cuda.is_available())
    if not use_cuda:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"{setting}='cuda' but CUDA is not available here; use {setting}=auto or cpu")
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise ValueError(f"LOCAL_RANK={local_rank} but only {count} GPU(s) are visible; lower --nproc_per_node")
    return torch.device("cuda", local_rank)


def setup_distributed(device_preference: Literal["auto", "cpu", "cuda"] = "auto") -> DistContext:
    """Join the torchrun process group when the environment says so (gloo on CPU, nccl on CUDA).

    An already initialised default process group (e.g. created by a test or a launcher) is reused and left open.

    Raises:
        ValueError: WORLD_SIZE > 1 without MASTER_ADDR/MASTER_PORT, or a device problem (see `resolve_device`).
    """
    if dist.is_available() and dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
        local_rank = _env_int("LOCAL_RANK", rank)
        device = resolve_device(device_preference, local_rank)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        return DistContext(rank, local_rank, world_size, device, owns_process_group=False)
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    device = resolve_device(device_preference, local_rank)
    if world_size <= 1:
        return DistContext(0, 0, 1, device, owns_process_group=False)
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        raise ValueError(f"WORLD_SIZE={world_size} but {missing} are not set: start multi-process runs with torchrun")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world_size)
    return DistContext(rank, local_rank, world_size, device, owns_process_group=True)


def teardown_distributed(ctx: DistContext) -> None:
    """Destroy the process group if `setup_distributed` created it."""
    if ctx.owns_process_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (no-op for one process)."""
    if not ctx.is_distributed:
        return
    if ctx.device.type == "cuda":
        dist.barrier(device_ids=[ctx.device.index])
    else:
        dist.barrier()


def any_rank_each(ctx: DistContext, flags: Sequence[bool]) -> list[bool]:
    """For each flag, True on every rank if it is true on at least one rank (one small all-reduce; no-op for one
    process)."""
    if not ctx.is_distributed:
        return list(flags)
    values = torch.tensor([1.0 if flag else 0.0 for flag in flags], device=ctx.device)
    dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return [bool(v > 0) for v in values.tolist()]


def all_gather_objects(ctx: DistContext, obj: Any) -> list[Any]:
    """Picklable `obj` of every rank, in rank order (`[obj]` for one process)."""
    if not ctx.is_distributed:
        return [obj]
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def all_reduce_gradients(ctx: DistContext, parameters: Iterable[torch.nn.Parameter]) -> None:
    """Average `.grad` over ranks, for parameters a model updates outside DDP (e.g. in `auxiliary_step`)."""
    if not ctx.is_distributed:
        return
    for param in parameters:
        if param.grad is not None:
            dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
            param.grad.div_(ctx.world_size)


def broadcast_buffers(ctx: DistContext, module: torch.nn.Module) -> None:
    """Copy rank 0's buffers (e.g. BatchNorm running statistics) to every rank (no-op for one process).

    DDP broadcasts buffers at the start of each forward, so after the last training forward each rank holds its own
    running statistics; validation calls this first so every rank evaluates the weights that get saved.
    """
    if not ctx.is_distributed:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)
