"""Gathers of per-body rows by `index_select` on the flattened batch (much faster on CPU than `x[body, ids]`)."""

from __future__ import annotations

import torch

__all__ = ["body_rows"]


def body_rows(x: torch.Tensor, body: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Rows `x[body[k], ids[k, ...]]` of a batched table.

    Args:
        x: (B, N, ...) table.
        body: (K,) long body of each query.
        ids: (K, ...) long row ids within that body.

    Returns:
        (K, ..., *x.shape[2:]), differentiable w.r.t. x.
    """
    flat = (body.view(-1, *[1] * (ids.ndim - 1)) * x.shape[1] + ids).reshape(-1)
    return x.flatten(0, 1).index_select(0, flat).view(*ids.shape, *x.shape[2:])
