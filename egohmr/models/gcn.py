"""Modulated graph convolution network over the 24 SMPL joints: the stage-2 denoiser trunk.

Official layout (`reference-egohmr.md` sections 3 and 6): ``ModulatedGCN(in 3718, hid 1024, out 6, 4 blocks)`` =
``gconv_input.0`` (graph conv + BatchNorm1d + ReLU), ``gconv_layers.{0..3}`` (residual blocks of two such layers,
``gconv1`` / ``gconv2``) and ``gconv_output`` (a plain modulated graph conv, 1024 -> 6). Parameter names follow the
official state dict (``gconv_input.0.gconv.W`` ...), so official weights load without renaming.

A modulated graph conv is computed in two stages so that callers can precompute part of the first one:

1. ``project``: ``XW = [X W_0 | X W_1]`` (self and neighbour weights, one GEMM), linear in ``X``.
2. ``propagate``: ``out = (A∘I)(M∘XW_0) + (A∘(1−I))(M∘XW_1) + bias`` with ``A = (adj + adj2 + (adj + adj2)^T)/2``.

Because stage 1 is linear, ``project(X_a + X_b) = project(X_a) + project(X_b)``: the denoiser adds per-image and
per-call projections instead of projecting the full 3718-wide token (see `egohmr.models.denoiser`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from egohmr.constants import NUM_SMPL_JOINTS, SMPL_EDGES

__all__ = [
    "GCNTrace",
    "ModulatedGCN",
    "ModulatedGraphConv",
    "fixed_adjacency",
    "modulated_propagate",
    "symmetric_adjacency",
]


def fixed_adjacency(edges: Sequence[tuple[int, int]] = SMPL_EDGES, num_joints: int = NUM_SMPL_JOINTS) -> torch.Tensor:
    """Fixed graph of the official GCN (`reference-egohmr.md` section 3, ``egohmr.py:L86-94``).

    The kinematic tree made symmetric, each row divided by its degree (self excluded), then the diagonal set to 1.
    Computed in float32 like the official code, so a float64 model sees the float32-rounded values upcast.

    Args:
        edges: (parent, child) joint index pairs; default the 23 SMPL kinematic edges.
        num_joints: J, number of graph nodes.

    Returns:
        (J, J) float32 adjacency. Not symmetric after the row normalisation (row 0 holds 1/3, row 1 holds 1/2).

    Raises:
        ValueError: an edge index is outside ``[0, num_joints)`` or a joint has no edge.
    """
    adj = torch.zeros(num_joints, num_joints, dtype=torch.float32)
    for parent, child in edges:
        if not (0 <= parent < num_joints and 0 <= child < num_joints):
            raise ValueError(f"edge ({parent}, {child}) outside 0..{num_joints - 1}")
        adj[parent, child] = 1.0
        adj[child, parent] = 1.0
    degree = adj.sum(dim=1, keepdim=True)  # (J, 1)
    if bool((degree == 0).any()):
        raise ValueError(f"joints without edges: {torch.nonzero(degree[:, 0] == 0).flatten().tolist()}")
    adj = adj / degree
    adj.fill_diagonal_(1.0)
    return adj


def symmetric_adjacency(adj: torch.Tensor, adj2: torch.Tensor) -> torch.Tensor:
    """``A = (adj + adj2 + (adj + adj2)^T) / 2``: the fixed graph plus the learnt offsets, symmetrised.

    Args:
        adj: (J, J) fixed adjacency.
        adj2: (J, J) learnt additive adjacency.

    Returns:
        (J, J) symmetric adjacency, dtype of ``adj + adj2``.
    """
    summed = adj + adj2
    return (summed.transpose(0, 1) + summed) / 2


def modulated_propagate(
    xw: torch.Tensor, adj_sym: torch.Tensor, modulation: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """Second stage of a modulated graph conv (`reference-egohmr.md` section 3).

    Notation: ``xw[..., 0, :] = X W_0`` (self), ``xw[..., 1, :] = X W_1`` (neighbours), ``A`` = ``adj_sym``,
    ``M`` = ``modulation``; ``out = (A∘I)(M∘XW_0) + (A∘(1−I))(M∘XW_1) + bias``.

    Args:
        xw: (B, J, 2, D) projected features.
        adj_sym: (J, J) symmetric adjacency.
        modulation: (J, D) per-node modulation ``M``.
        bias: (D,).

    Returns:
        (B, J, D).
    """
    eye = torch.eye(adj_sym.shape[0], dtype=adj_sym.dtype, device=adj_sym.device)
    h_self = modulation * xw[..., 0, :]  # (B, J, D)
    h_neigh = modulation * xw[..., 1, :]  # (B, J, D)
    diag = torch.diagonal(adj_sym).unsqueeze(-1)  # (J, 1): (A∘I) is diagonal
    return diag * h_self + torch.matmul(adj_sym * (1 - eye), h_neigh) + bias


class ModulatedGraphConv(nn.Module):
    """Modulated graph convolution (official ``ModulatedGraphConv``); parameters ``W``, ``M``, ``adj2``, ``bias``.

    The fixed adjacency is a non-persistent buffer (not in official state dicts), so ``.to()`` moves and casts it.
    """

    def __init__(self, in_features: int, out_features: int, adj: torch.Tensor) -> None:
        """Create the layer with zero-initialised parameters (load weights, or call ``reset_parameters``).

        Args:
            in_features: input channels.
            out_features: output channels.
            adj: (J, J) fixed adjacency, e.g. `fixed_adjacency()`.
        """
        super().__init__()
        num_joints = adj.shape[0]
        self.in_features = in_features
        self.out_features = out_features
        self.W = nn.Parameter(torch.zeros(2, in_features, out_features))
        self.M = nn.Parameter(torch.zeros(num_joints, out_features))
        self.adj2 = nn.Parameter(torch.zeros(num_joints, num_joints))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.register_buffer("adj", adj.clone(), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform ``W`` (gain 1.414), ``M`` = 1, ``adj2`` = 1e-6, ``bias`` uniform in ±1/sqrt(out)."""
        with torch.no_grad():
            nn.init.xavier_uniform_(self.W, gain=1.414)
            self.M.fill_(1.0)
            self.adj2.fill_(1e-6)
            bound = 1.0 / self.out_features**0.5
            self.bias.uniform_(-bound, bound)

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, joints={self.M.shape[0]}"

    def stacked_weight(self) -> torch.Tensor:
        """``[W_0 | W_1]`` as one (in, 2*out) matrix (a copy): ``x @ stacked_weight()`` unflattened to (..., 2, out)
        equals `project`; used to project slices of the input once."""
        return self.W.permute(1, 0, 2).reshape(self.in_features, 2 * self.out_features)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Stage 1: ``x`` (B, J, in) -> (B, J, 2, out) = ``[X W_0, X W_1]`` (linear in ``x``, no bias)."""
        return torch.stack((torch.matmul(x, self.W[0]), torch.matmul(x, self.W[1])), dim=-2)  # (B, J, 2, out)

    def propagate(self, xw: torch.Tensor) -> torch.Tensor:
        """Stage 2: (B, J, 2, out) projection -> (B, J, out) output, see `modulated_propagate`."""
        return modulated_propagate(xw, symmetric_adjacency(self.adj, self.adj2), self.M, self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, J, in) -> (B, J, out)."""
        return self.propagate(self.project(x))


class _GraphConv(nn.Module):
    """Modulated graph conv -> BatchNorm1d over channels -> ReLU (official ``_GraphConv``, dropout 0 omitted)."""

    def __init__(self, in_features: int, out_features: int, adj: torch.Tensor) -> None:
        super().__init__()
        self.gconv = ModulatedGraphConv(in_features, out_features, adj)
        self.bn = nn.BatchNorm1d(out_features)

    def activate(self, h: torch.Tensor) -> torch.Tensor:
        """BatchNorm over the channel axis of (B, J, D), then ReLU."""
        h = self.bn(h.transpose(1, 2)).transpose(1, 2)  # (B, J, D)
        return torch.relu(h)

    def forward_projected(self, xw: torch.Tensor) -> torch.Tensor:
        """(B, J, 2, D) first-stage projection -> (B, J, D)."""
        return self.activate(self.gconv.propagate(xw))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, J, in) -> (B, J, D)."""
        return self.activate(self.gconv(x))


class _ResGraphConv(nn.Module):
    """Residual block ``x + gconv2(gconv1(x))`` (official ``_ResGraphConv``)."""

    def __init__(self, features: int, hidden: int, adj: torch.Tensor) -> None:
        super().__init__()
        self.gconv1 = _GraphConv(features, hidden, adj)
        self.gconv2 = _GraphConv(hidden, features, adj)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, J, D) -> (B, J, D)."""
        return x + self.gconv2(self.gconv1(x))


@dataclass(frozen=True)
class GCNTrace:
    """Output of `ModulatedGCN` together with its hidden states.

    Attributes:
        output: (B, J, out) network output.
        hidden: ``1 + num_blocks`` tensors (B, J, hid): the output of ``gconv_input`` and of each residual block.
    """

    output: torch.Tensor
    hidden: tuple[torch.Tensor, ...]


class ModulatedGCN(nn.Module):
    """Official ``ModulatedGCN(adj, in, hid, out, num_layers, p_dropout=0, nonlocal_layer=False)``."""

    def __init__(
        self,
        in_features: int = 3718,
        hidden_features: int = 1024,
        out_features: int = 6,
        num_blocks: int = 4,
        adj: torch.Tensor | None = None,
    ) -> None:
        """Build the network.

        Args:
            in_features: token width (official 3718).
            hidden_features: hidden width (official 1024).
            out_features: per-joint output width (6D rotation).
            num_blocks: residual blocks (official 4).
            adj: (J, J) fixed adjacency; default `fixed_adjacency()` over the SMPL tree.
        """
        super().__init__()
        adj = fixed_adjacency() if adj is None else adj
        self.gconv_input = nn.Sequential(_GraphConv(in_features, hidden_features, adj))
        self.gconv_layers = nn.Sequential(
            *[_ResGraphConv(hidden_features, hidden_features, adj) for _ in range(num_blocks)]
        )
        self.gconv_output = ModulatedGraphConv(hidden_features, out_features, adj)

    @property
    def input_layer(self) -> ModulatedGraphConv:
        """The first modulated graph conv (its projection is what the fast denoiser path precomputes)."""
        return self.gconv_input[0].gconv

    def forward_projected(self, xw: torch.Tensor) -> torch.Tensor:
        """Run from the first layer's projection.

        Args:
            xw: (B, J, 2, hid) = ``input_layer.project(tokens)`` or an equal sum of partial projections.

        Returns:
            (B, J, out).
        """
        h = self.gconv_input[0].forward_projected(xw)
        return self.gconv_output(self.gconv_layers(h))

    def trace_projected(self, xw: torch.Tensor) -> GCNTrace:
        """Like `forward_projected`, keeping the hidden state after ``gconv_input`` and after each block."""
        h = self.gconv_input[0].forward_projected(xw)
        hidden = [h]
        for block in self.gconv_layers:
            h = block(h)
            hidden.append(h)
        return GCNTrace(output=self.gconv_output(h), hidden=tuple(hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, J, in) tokens -> (B, J, out)."""
        return self.forward_projected(self.input_layer.project(x))

    def trace(self, x: torch.Tensor) -> GCNTrace:
        """(B, J, in) tokens -> `GCNTrace` (output and hidden states)."""
        return self.trace_projected(self.input_layer.project(x))
