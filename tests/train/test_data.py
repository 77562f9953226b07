"""Deterministic, resumable data order."""

from __future__ import annotations

import signal

import torch
from torch.utils.data import Dataset

from egohmr.train.data import (
    EpochBatchSampler,
    SeededItems,
    ValBatchSampler,
    batch_size_of,
    make_loader,
    nonfinite_keys,
)
from egohmr.train.rng import mix_seed
from tests.train.toy import ToyRegression


def test_epoch_order_is_a_function_of_seed_and_epoch():
    a = [b for b in EpochBatchSampler(64, 8, seed=3, epoch=2)]
    b = [b for b in EpochBatchSampler(64, 8, seed=3, epoch=2)]
    c = [b for b in EpochBatchSampler(64, 8, seed=3, epoch=3)]
    assert a == b and a != c
    flat = sorted(i for batch in a for i, _ in batch)
    assert flat == list(range(64))  # a permutation


def test_start_batch_skips_exactly_the_consumed_batches():
    full = list(EpochBatchSampler(70, 8, seed=1, epoch=0))
    assert len(full) == 8  # 70 // 8, the remainder is dropped
    assert list(EpochBatchSampler(70, 8, seed=1, epoch=0, start_batch=3)) == full[3:]


def test_ranks_split_the_same_global_batch():
    single = EpochBatchSampler(64, 8, seed=5, epoch=1)
    ranks = [EpochBatchSampler(64, 4, seed=5, epoch=1, rank=r, world_size=2) for r in range(2)]
    for k in range(single.steps_per_epoch):
        assert single.indices(k) == ranks[0].indices(k) + ranks[1].indices(k)
    per_rank = [list(r) for r in ranks]
    assert [b for b in single] == [x + y for x, y in zip(*per_rank, strict=True)]


def test_sample_seeds_do_not_depend_on_rank_or_position():
    batches = list(EpochBatchSampler(16, 4, seed=9, epoch=0))
    for batch in batches:
        for index, seed in batch:
            assert seed == mix_seed(9, 0, index)
    items = SeededItems(ToyRegression(n=16))
    index, seed = batches[1][2]
    assert torch.equal(items[(index, seed)]["x"], items[(index, seed)]["x"])
    assert not torch.equal(items[(index, seed)]["x"], items[(index, mix_seed(9, 1, index))]["x"])


def test_validation_split_covers_every_kth_item_once():
    ranks = [ValBatchSampler(25, 4, seed=0, subsample=2, rank=r, world_size=2) for r in range(2)]
    seen = sorted(i for r in ranks for batch in r for i, _ in batch)
    assert seen == list(range(0, 25, 2))


def test_batch_helpers():
    batch = {"meta": {"x": torch.zeros(5, 2)}, "y": torch.tensor([1.0, float("nan")]), "names": ["a", "b"]}
    assert batch_size_of(batch) == 5
    assert nonfinite_keys(batch) == ["y"]
    assert nonfinite_keys([torch.zeros(2), {"z": torch.tensor([float("inf")])}]) == ["1.z"]


class _SigintIgnored(Dataset):
    """Items say whether SIGINT is ignored in the process that loads them."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> bool:
        return signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_loader_workers_ignore_ctrl_c():
    # A terminal's Ctrl-C reaches the workers too; the main process must outlive it to write last.pt.
    loader = make_loader(_SigintIgnored(), ValBatchSampler(2, 2, seed=0), num_workers=1, loader_seed=0)
    assert next(iter(loader)).tolist() == [True, True]
    assert signal.getsignal(signal.SIGINT) != signal.SIG_IGN  # ... and the main process does not
