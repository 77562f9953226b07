"""Conservative culling of scene points that cannot be inside a posed body: a voxel shell and axis visibility.

A point whose grid cell can see the grid border along one of the six axis directions without passing through a cell
that the surface touches is outside the body: the straight ray to infinity never crosses the surface, so its
winding number is 0. This is exact by construction (never culls an inside point), needs no nearest-neighbour
search, and is a handful of tensor operations per body on any device (each body gets its own grid: no padding to
the largest body of a batch, and memory that does not grow with the batch):

1. shell: the cells of the vertices dilated by one cell, with cells no smaller than the longest edge / sqrt(3)
   (then every surface point is in a shell cell);
2. visibility: the first and last shell cell of every grid line along each axis;
3. lookup: points outside the grid, or in a cell before the first or after the last shell cell of one of its three
   lines, are certainly outside.

Cells the surface hides from every axis direction (under a crouching body, between touching limbs) are left to the
caller's exact path; so are points in shell cells, i.e. within about a cell of the surface.
"""

from __future__ import annotations

import math

import torch

__all__ = ["BODIES_PER_GRID", "certainly_outside", "unique_edges"]

BODIES_PER_GRID = 8


def _shell(vertices: torch.Tensor, origin: torch.Tensor, cell: torch.Tensor, shape: list[int]) -> torch.Tensor:
    """(X, Y, Z) bool: cells holding a vertex of `vertices` (V, 3), dilated by one cell (3 x 3 x 3).

    Every point of a triangle lies within longest-edge / sqrt(3) of one of its corners, so with cells at least that
    large the dilated vertex cells contain the whole surface.
    """
    x, y, z = torch.floor((vertices - origin) / cell).long().unbind(-1)  # (V,) each
    shell = torch.zeros(shape, dtype=torch.bool, device=vertices.device)
    shell.view(-1).index_fill_(0, (x * shape[1] + y) * shape[2] + z, True)
    for dim in range(3):  # separable 3 x 3 x 3 dilation
        size = shell.shape[dim]
        grown = shell.clone()
        grown.narrow(dim, 1, size - 1).logical_or_(shell.narrow(dim, 0, size - 1))
        grown.narrow(dim, 0, size - 1).logical_or_(shell.narrow(dim, 1, size - 1))
        shell = grown
    return shell


def _shell_extents(shell: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per axis d = x, y, z: the first and last shell cell of every grid line along d.

    Returns:
        Three (first, last) pairs of long tables over the other two axes; a line without shell cells has first = its
        length and last = -1. A cell at index i of a line sees the border along -d iff i < first and along +d iff
        i > last.
    """
    extents = []
    for dim in range(3):
        size = shell.shape[dim]
        lines = shell.movedim(dim, 0).contiguous()  # (size, ., .): reductions over dim 0 vectorise best
        dtype = torch.uint8 if size < 255 else torch.int32
        rank = torch.arange(1, size + 1, dtype=dtype, device=shell.device).view(-1, 1, 1)
        last = (lines * rank).amax(dim=0).long() - 1  # -1 on empty lines
        first = size - (lines * rank.flip(0)).amax(dim=0).long()  # size on empty lines
        extents.append((first, last))
    return extents


def _visible_from_border(shell: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
    """(N,) bool: cells `cell` (N, 3) long with a shell-free straight path to the grid border along some axis
    direction; `shell` (X, Y, Z) bool."""
    visible = torch.zeros(len(cell), dtype=torch.bool, device=shell.device)
    for axis, (first, last) in enumerate(_shell_extents(shell)):
        i = cell[:, axis]
        j, k = (cell[:, other] for other in range(3) if other != axis)
        line = j * first.shape[1] + k  # (N,) entry of the flattened tables
        visible |= (i < first.view(-1).index_select(0, line)) | (i > last.view(-1).index_select(0, line))
    return visible


def _outside_one(points: torch.Tensor, vertices: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
    """(P,) bool: which points (P, 3) are provably outside the mesh `vertices` (V, 3) with grid cell `cell` ()."""
    origin = vertices.amin(dim=0) - 2 * cell  # room for the dilation
    extent = (vertices.amax(dim=0) - origin) / cell
    shape = [math.floor(float(c)) + 3 for c in extent]  # room for the dilation on the high side
    index = torch.floor((points - origin) / cell).long()  # (P, 3)
    ix, iy, iz = index.unbind(-1)
    in_grid = (ix >= 0) & (ix < shape[0]) & (iy >= 0) & (iy < shape[1]) & (iz >= 0) & (iz < shape[2])
    outside = ~in_grid
    candidates = torch.nonzero(in_grid).squeeze(1)
    shell = _shell(vertices, origin, cell, shape)
    outside[candidates] = _visible_from_border(shell, index.index_select(0, candidates))
    return outside


def unique_edges(faces: torch.Tensor) -> torch.Tensor:
    """(E, 2) long: every edge of the triangles `faces` (F, 3) once, lower vertex id first."""
    faces = torch.as_tensor(faces).to(torch.long)
    pairs = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return pairs.sort(dim=1).values.unique(dim=0)


def certainly_outside(points: torch.Tensor, vertices: torch.Tensor, edges: torch.Tensor, cell_size: float = 0.03):
    """Which points are provably outside closed meshes (the rest may be inside or near the surface).

    Args:
        points: (B, P, 3) float, metres, same frame as `vertices`.
        vertices: (B, V, 3) float, metres. Posed meshes.
        edges: (E, 2) long, every edge of the mesh (`unique_edges` of its faces), on the device of `vertices`.
        cell_size: metres. Grid cell; raised, body by body, to its longest posed edge / sqrt(3) where that is
            larger (3.4 cm for the open body, 14 cm for its low-resolution version).

    Returns:
        (B, P) bool, not differentiable: True where the point is outside the body (winding number 0). Each body's
        answer depends on that body alone (its own grid), not on the others in the batch.
    """
    vertices, points = vertices.detach(), points.detach()
    if len(vertices) > BODIES_PER_GRID:
        chunks = zip(points.split(BODIES_PER_GRID), vertices.split(BODIES_PER_GRID), strict=True)
        return torch.cat([certainly_outside(p, v, edges, cell_size) for p, v in chunks])
    dx, dy, dz = (vertices.index_select(1, edges[:, 0]) - vertices.index_select(1, edges[:, 1])).unbind(-1)  # (B, E)
    cell = (dx * dx + dy * dy + dz * dz).amax(dim=1).div(3.0).sqrt().clamp(min=cell_size)  # (B,)
    return torch.stack([_outside_one(p, v, c) for p, v, c in zip(points, vertices, cell, strict=True)])
