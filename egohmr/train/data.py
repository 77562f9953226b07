"""Deterministic, resumable data order for the training loop.

The order of training samples is a pure function of (seed, epoch): the permutation of epoch e is
`torch.randperm(N, generator=seeded(mix_seed(seed, e)))`. Global batch k of the epoch is the slice
`perm[k*G : (k+1)*G]` with G = batch_size * world_size, and rank r takes the contiguous part
`[r*batch_size : (r+1)*batch_size]` of it, so the union over ranks is the same global batch whatever the world size.
An epoch has `N // G` batches (the remainder is dropped). Resuming at step s starts epoch `s // steps_per_epoch` at
batch `s % steps_per_epoch`: the resumed run sees exactly the batches the uninterrupted run would have seen.

Per-sample randomness (augmentation): a dataset that defines
`getitem_with_generator(index: int, generator: torch.Generator)` gets a generator seeded by (seed, epoch, index),
so augmentation does not depend on worker count, rank or resume point. Other datasets are read with
`dataset[index]`; a dataset with a `set_epoch(epoch)` method is told the epoch before each epoch's loader starts
(so it can seed its own augmentation per (seed, epoch, item)). Without either, the order is still exact, and any
randomness drawn from a worker's global generator is seeded per (seed, epoch, rank, worker) but not reproduced
across a resume.
"""

from __future__ import annotations

import math
import random
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from egohmr.train.rng import mix_seed

__all__ = [
    "EpochBatchSampler",
    "SeededItems",
    "ValBatchSampler",
    "batch_size_of",
    "make_loader",
    "nonfinite_keys",
    "to_device",
    "train_batches",
]

VAL_EPOCH = -1
"""Epoch number used for per-sample seeds of validation items."""


class SeededItems(Dataset):
    """View of a dataset indexed by `(index, sample_seed)` pairs, as yielded by the batch samplers here."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.seeded = callable(getattr(dataset, "getitem_with_generator", None))

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, sample_seed = key
        if self.seeded:
            generator = torch.Generator().manual_seed(sample_seed)
            return self.dataset.getitem_with_generator(index, generator)  # type: ignore[attr-defined]
        return self.dataset[index]


class EpochBatchSampler:
    """Batches of one epoch for one rank, starting at batch `start_batch` (see the module docstring).

    Yields lists of `(index, sample_seed)` pairs for `SeededItems`.
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        *,
        seed: int,
        epoch: int,
        rank: int = 0,
        world_size: int = 1,
        start_batch: int = 0,
    ) -> None:
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = epoch
        self.rank = rank
        self.world_size = world_size
        self.start_batch = start_batch
        self.global_batch = batch_size * world_size
        self.steps_per_epoch = num_items // self.global_batch
        generator = torch.Generator().manual_seed(mix_seed(seed, epoch))
        self.permutation = torch.randperm(num_items, generator=generator).tolist()

    def indices(self, batch: int) -> list[int]:
        """Dataset indices of batch `batch` of this epoch on this rank."""
        start = batch * self.global_batch + self.rank * self.batch_size
        return self.permutation[start : start + self.batch_size]

    def __len__(self) -> int:
        return max(0, self.steps_per_epoch - self.start_batch)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for batch in range(self.start_batch, self.steps_per_epoch):
            yield [(i, mix_seed(self.seed, self.epoch, i)) for i in self.indices(batch)]


class ValBatchSampler:
    """Validation batches of one rank: every `subsample`-th item, dealt to ranks round-robin, in order."""

    def __init__(
        self, num_items: int, batch_size: int, *, seed: int, subsample: int = 1, rank: int = 0, world_size: int = 1
    ) -> None:
        self.items = list(range(0, num_items, subsample))[rank::world_size]
        self.batch_size = batch_size
        self.seed = seed

    def __len__(self) -> int:
        return math.ceil(len(self.items) / self.batch_size)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for start in range(0, len(self.items), self.batch_size):
            chunk = self.items[start : start + self.batch_size]
            yield [(i, mix_seed(self.seed, VAL_EPOCH, i)) for i in chunk]


def _init_worker(worker_id: int) -> None:
    """Seed numpy and `random` in a DataLoader worker from the torch seed the loader gave it; ignore Ctrl-C.

    The loader seeds each worker's torch generator with base_seed + worker_id, and base_seed comes from the loader's
    own generator, which the engine seeds per (seed, epoch, rank). A terminal's Ctrl-C reaches the workers too; they
    ignore it, so the main process can finish its step and write `last.pt` (`egohmr.train.interrupt`) before it shuts
    them down.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    seed = torch.initial_seed()
    np.random.seed(seed % (1 << 32))  # noqa: NPY002 (the global generator is what this manages)
    random.seed(seed)


def make_loader(
    dataset: Dataset,
    batch_sampler: EpochBatchSampler | ValBatchSampler,
    *,
    num_workers: int,
    loader_seed: int,
    pin_memory: bool = False,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> DataLoader:
    """A DataLoader over `SeededItems(dataset)` with the given batch sampler and a seeded generator."""
    return DataLoader(
        SeededItems(dataset),
        batch_sampler=batch_sampler,
        num_workers=num_workers,
        collate_fn=collate_fn,
        pin_memory=pin_memory,
        worker_init_fn=_init_worker if num_workers > 0 else None,
        generator=torch.Generator().manual_seed(loader_seed),
    )


def train_batches(
    train_set: Dataset,
    *,
    batch_size: int,
    num_workers: int,
    seed: int,
    rank: int,
    world_size: int,
    start_step: int,
    pin_memory: bool = False,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> Iterator[tuple[int, int, list[int], Any]]:
    """Endless stream of (epoch, batch in epoch, this rank's dataset indices, batch), from where `start_step` left off.

    Each epoch gets a fresh `EpochBatchSampler` and loader (seeded per (seed, epoch, rank)); a dataset with a
    `set_epoch(epoch)` method is told the epoch first, before the workers start. Close the generator to shut the
    workers down.
    """
    steps_per_epoch = len(train_set) // (batch_size * world_size)  # type: ignore[arg-type]
    epoch, first = divmod(start_step, steps_per_epoch)
    set_epoch = getattr(train_set, "set_epoch", None)
    while True:
        if callable(set_epoch):
            set_epoch(epoch)
        sampler = EpochBatchSampler(
            len(train_set),  # type: ignore[arg-type]
            batch_size,
            seed=seed,
            epoch=epoch,
            rank=rank,
            world_size=world_size,
            start_batch=first,
        )
        loader = make_loader(
            train_set,
            sampler,
            num_workers=num_workers,
            loader_seed=mix_seed(seed, epoch, rank),
            pin_memory=pin_memory,
            collate_fn=collate_fn,
        )
        # Workers prefetch the next batches while the current step runs on the device.
        for k, batch in enumerate(loader, start=first):
            yield epoch, k, sampler.indices(k), batch
        epoch, first = epoch + 1, 0


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a nested batch (dicts, lists, tuples) to `device`; other values are kept."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def batch_size_of(batch: Any) -> int:
    """Number of samples in a batch: the length of the first tensor (or list) found in it; 1 if none."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.ndim > 0 else 1
    if isinstance(batch, Mapping):
        for value in batch.values():
            if isinstance(value, torch.Tensor | Mapping | list | tuple):
                return batch_size_of(value)
    if isinstance(batch, list | tuple) and batch:
        first = batch[0]
        if isinstance(first, torch.Tensor | Mapping | list | tuple):
            return batch_size_of(first)
        return len(batch)
    return 1


def nonfinite_keys(batch: Any, prefix: str = "") -> list[str]:
    """Names (dotted paths; list positions as numbers) of floating-point tensors in `batch` holding NaN or inf."""
    found: list[str] = []
    if isinstance(batch, torch.Tensor):
        if batch.is_floating_point() and not bool(torch.isfinite(batch).all()):
            found.append(prefix or "<batch>")
    elif isinstance(batch, Mapping):
        for key, value in batch.items():
            found += nonfinite_keys(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(batch, Sequence) and not isinstance(batch, str | bytes):
        for i, value in enumerate(batch):
            found += nonfinite_keys(value, f"{prefix}.{i}" if prefix else str(i))
    return found
