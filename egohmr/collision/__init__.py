"""Body-scene collision without learned weights.

- `exact`: reference inside/outside test (generalised winding number) for metrics.
- `surface`: fast differentiable signed distance and penetration depth for guidance and the training loss.

Any scorer that maps scene points and posed vertices to per-point penetration can be plugged in where a
`PenetrationScorer` is expected.
"""

from __future__ import annotations

from typing import Protocol

import torch

from egohmr.collision.exact import inside_mask, winding_numbers
from egohmr.collision.surface import SurfacePenetration, signed_distance


class PenetrationScorer(Protocol):
    """Maps points (B, P, 3) and posed body vertices (B, V, 3), metres, same frame, to penetration (B, P) >= 0.

    Zero outside the body, growing with depth inside; differentiable with respect to the vertices.
    """

    def __call__(self, points: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor: ...


__all__ = ["PenetrationScorer", "SurfacePenetration", "inside_mask", "signed_distance", "winding_numbers"]
