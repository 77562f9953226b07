"""Scene encoder: ResNet-PointNet over raw xyz points (reference-egohmr.md section 2, "Scene encoder").

Occupancy-Networks style point encoder used by both stages: a per-point linear lift, four residual point-wise MLP
blocks with a max-pool-and-concatenate step between them (three concatenations), a global max-pool, ReLU and a
final linear layer. Only xyz is used (no normals, no colours); the frame is whatever the caller feeds (stage 1: PV
camera frame, absolute; stage 2: human-centric).

State-dict keys (official layout, prefix ``scene_enc.`` in official checkpoints)::

    fc_pos_0.{weight,bias}                      Linear(3 -> 2H)
    block_{0..3}.fc_0.{weight,bias}             Linear(2H -> H)
    block_{0..3}.fc_1.{weight,bias}             Linear(H -> H)
    block_{0..3}.shortcut.weight                Linear(2H -> H, no bias)
    fc_c.{weight,bias}                          Linear(H -> out_dim)

with H = ``hidden_dim`` (256 official) and ``out_dim`` 512 official: 1,446,400 parameters.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ResnetBlockFC", "ResnetPointnet"]


class ResnetBlockFC(nn.Module):
    """Point-wise residual MLP block: ``shortcut(x) + fc_1(relu(fc_0(relu(x))))``.

    Args:
        size_in: input feature size D_in.
        size_out: output feature size D_out.
        size_hidden: hidden size; defaults to ``min(size_in, size_out)``.

    The shortcut is a bias-free linear layer when ``size_in != size_out`` and the identity otherwise. ``fc_1`` starts
    at zero weight so the block is the shortcut at initialisation.
    """

    def __init__(self, size_in: int, size_out: int, size_hidden: int | None = None) -> None:
        super().__init__()
        size_hidden = min(size_in, size_out) if size_hidden is None else size_hidden
        self.fc_0 = nn.Linear(size_in, size_hidden)
        self.fc_1 = nn.Linear(size_hidden, size_out)
        self.shortcut = nn.Linear(size_in, size_out, bias=False) if size_in != size_out else None
        nn.init.zeros_(self.fc_1.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Args:
            x: (..., D_in) float.

        Returns:
            (..., D_out) float.
        """
        dx = self.fc_1(torch.relu(self.fc_0(torch.relu(x))))
        x_s = x if self.shortcut is None else self.shortcut(x)
        return x_s + dx

    def forward_with_pooled(self, local: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """``forward(cat([local, pooled.expand_as(local)], -1))`` without materialising the concatenation.

        The input-side layers are split by columns: the pooled half of ``fc_0`` and of ``shortcut`` is computed once
        per cloud instead of once per point, which removes a third of the block's multiply-adds.

        Args:
            local: (B, P, D) per-point features. pooled: (B, 1, D) their max over points; 2D = ``size_in``.

        Returns:
            (B, P, D_out) float, equal to `forward` on the concatenation up to float rounding.
        """
        if self.shortcut is None:
            raise ValueError("forward_with_pooled needs a block whose input and output sizes differ")
        d = local.shape[-1]
        w0, ws = self.fc_0.weight, self.shortcut.weight
        hidden = F.linear(torch.relu(local), w0[:, :d]) + F.linear(torch.relu(pooled), w0[:, d:], self.fc_0.bias)
        x_s = F.linear(local, ws[:, :d]) + F.linear(pooled, ws[:, d:])
        return x_s + self.fc_1(torch.relu(hidden))


class ResnetPointnet(nn.Module):
    """ResNet-PointNet scene encoder ``(B, P, 3) -> (B, out_dim)``.

    Args:
        out_dim: size of the global scene feature (official 512).
        hidden_dim: H, the residual blocks' output size; the lifted point feature has 2H (official 256).
        in_dim: per-point input size (3: xyz in metres).
        num_blocks: number of residual blocks (official 4, keys ``block_0..block_{n-1}``).
    """

    def __init__(self, out_dim: int = 512, hidden_dim: int = 256, in_dim: int = 3, num_blocks: int = 4) -> None:
        super().__init__()
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
        self.out_dim = out_dim
        self.hidden_dim = hidden_dim
        self.num_blocks = num_blocks
        self.fc_pos_0 = nn.Linear(in_dim, 2 * hidden_dim)
        for i in range(num_blocks):
            self.add_module(f"block_{i}", ResnetBlockFC(2 * hidden_dim, hidden_dim))
        self.fc_c = nn.Linear(hidden_dim, out_dim)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """Encode point clouds.

        Args:
            points: (B, P, 3) float, metres, in the caller's frame (stage 1 ``_pv``, stage 2 ``_hc``).

        Returns:
            (B, out_dim) float global scene feature.

        Raises:
            ValueError: if ``points`` is not (B, P, in_dim) with P >= 1.
        """
        if points.ndim != 3 or points.shape[-1] != self.fc_pos_0.in_features or points.shape[1] < 1:
            raise ValueError(
                f"points must have shape (B, P, {self.fc_pos_0.in_features}) with P >= 1, got {tuple(points.shape)}"
            )
        net = self.fc_pos_0(points)  # (B, P, 2H)
        net = self.block_0(net)  # (B, P, H)
        for i in range(1, self.num_blocks):
            # the official max-pool-and-concatenate step, in split form (ResnetBlockFC.forward_with_pooled)
            pooled = net.max(dim=1, keepdim=True).values  # (B, 1, H)
            net = getattr(self, f"block_{i}").forward_with_pooled(net, pooled)  # (B, P, H)
        net = net.max(dim=1).values  # (B, H)
        return self.fc_c(torch.relu(net))  # (B, out_dim)

    def extra_repr(self) -> str:
        return f"out_dim={self.out_dim}, hidden_dim={self.hidden_dim}, num_blocks={self.num_blocks}"
