"""Conservative culling of scene points that cannot be inside a posed body: a voxel shell and axis visibility.

A point whose grid cell can see the grid border along one of the six axis directions without passing through a cell
that the surface touches is outside the body: the straight ray to infinity never crosses the surface, so its
winding number is 0. This is exact by construction (never culls an inside point), needs no nearest-neighbour
search, and is a handful of batched tensor operations on any device:

1. shell: the cells of the vertices dilated by one cell, with cells no smaller than the longest edge / sqrt(3)
   (then every surface point is in a shell cell);
2. visibility: a cumulative "any shell cell so far" along each axis, in both directions;
3. lookup: points outside the grid, or in a cell visible from the border, are certainly outside.

Cells the surface hides from every axis direction (under a crouching body, between touching limbs) are left to the
caller's exact path; so are points in shell cells, i.e. within about a cell of the surface.
"""

from __future__ import annotations

import math

import torch

__all__ = ["certainly_outside"]


def _shell(vertices: torch.Tensor, origin: torch.Tensor, cell: torch.Tensor, shape: list[int]) -> torch.Tensor:
    """(B, X, Y, Z) bool: cells holding a vertex, dilated by one cell (3 x 3 x 3); `cell`: (B, 1, 1) per body.

    Every point of a triangle lies within longest-edge / sqrt(3) of one of its corners, so with cells at least that
    large the dilated vertex cells contain the whole surface.
    """
    num_bodies = len(vertices)
    x, y, z = torch.floor((vertices - origin) / cell).long().unbind(-1)  # (B, V) each
    body = torch.arange(num_bodies, device=vertices.device).view(-1, 1).expand_as(x)
    shell = torch.zeros([num_bodies, *shape], dtype=torch.bool, device=vertices.device)
    shell[body, x, y, z] = True
    for dim in (1, 2, 3):  # separable 3 x 3 x 3 dilation
        size = shell.shape[dim]
        grown = shell.clone()
        grown.narrow(dim, 1, size - 1).logical_or_(shell.narrow(dim, 0, size - 1))
        grown.narrow(dim, 0, size - 1).logical_or_(shell.narrow(dim, 1, size - 1))
        shell = grown
    return shell


def _visible_from_border(shell: torch.Tensor) -> torch.Tensor:
    """(B, X, Y, Z) bool: cells with a shell-free straight path to the grid border along some axis direction."""
    blocked = shell.to(torch.uint8)
    visible = torch.zeros_like(shell)
    for dim in (1, 2, 3):
        visible |= blocked.cummax(dim=dim).values == 0
        visible |= blocked.flip(dim).cummax(dim=dim).values.flip(dim) == 0
    return visible


def certainly_outside(points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor, cell_size: float = 0.03):
    """Which points are provably outside closed meshes (the rest may be inside or near the surface).

    Args:
        points: (B, P, 3) float, metres, same frame as `vertices`.
        vertices: (B, V, 3) float, metres. Posed meshes.
        faces: (F, 3) long, on the device of `vertices`.
        cell_size: metres. Grid cell; raised, body by body, to its longest posed edge / sqrt(3) where that is
            larger (3.4 cm for the open body, 14 cm for its low-resolution version).

    Returns:
        (B, P) bool, not differentiable: True where the point is outside the body (winding number 0). Each body's
        answer depends on that body alone (its own cell and origin), not on the others in the batch.
    """
    vertices, points = vertices.detach(), points.detach()
    edges = vertices[:, faces] - vertices[:, faces.roll(1, dims=1)]  # (B, F, 3, 3)
    longest = edges.square().sum(-1).flatten(1).amax(dim=1).div(3.0).sqrt()  # (B,)
    cell = longest.clamp(min=cell_size).view(-1, 1, 1)  # (B, 1, 1)
    origin = vertices.amin(dim=1, keepdim=True) - 2 * cell  # (B, 1, 3): room for the dilation
    cells = ((vertices.amax(dim=1, keepdim=True) - origin) / cell).amax(dim=(0, 1))  # (3,) most cells in the batch
    shape = [math.floor(float(c)) + 3 for c in cells]  # room for the dilation on the high side
    visible = _visible_from_border(_shell(vertices, origin, cell, shape))
    index = torch.floor((points - origin) / cell).long()  # (B, P, 3)
    bounds = torch.tensor(shape, device=points.device)
    in_grid = ((index >= 0) & (index < bounds)).all(dim=-1)  # (B, P)
    index = torch.where(in_grid.unsqueeze(-1), index, torch.zeros_like(index))
    body = torch.arange(len(points), device=points.device).view(-1, 1).expand_as(in_grid)
    return ~in_grid | visible[body, index[..., 0], index[..., 1], index[..., 2]]
