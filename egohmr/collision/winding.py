"""Fast approximate generalised winding number of points w.r.t. posed meshes of one topology (not differentiable).

Barnes-Hut evaluation over the tree of surface clusters of `egohmr.collision.clusters` (after Barill et al. 2018,
first order only): each node has its summed outward area vector N, a centre p and the radius r of a ball around p
holding it. A point starts at the top nodes and, level by level, sees a node farther than `beta` r as one dipole,
(p - q) . N / (4 pi |p - q|^3), and descends into the children of the others; the triangles of the leaves it is still
near are summed exactly (solid angle of Van Oosterom & Strackee 1983).

Near the surface, where the sign matters, the winding number is therefore exact up to far-field terms of a few
percent; it is 1 inside, 0 outside and 2 where two parts overlap, whatever the closest surface is. The work per point
grows with the number of clusters near it, not with the mesh size.
"""

from __future__ import annotations

import math

import torch

from egohmr.collision import vec3
from egohmr.collision.clusters import FaceClusters, PosedTree, pose_tree

__all__ = ["fast_winding_numbers", "fast_winding_numbers_at"]


def _solid_angles(query: torch.Tensor, corners: torch.Tensor) -> torch.Tensor:
    """Signed solid angle / 4 pi (K, S) of triangles with corners (3, 3, K, S), seen from `query` (3, K, 1)."""
    a, b, c = (corner - query for corner in corners)
    la, lb, lc = vec3.norm(a), vec3.norm(b), vec3.norm(c)
    det = vec3.dot(a, vec3.cross(b, c))
    den = la * lb * lc + vec3.dot(a, b) * lc + vec3.dot(b, c) * la + vec3.dot(c, a) * lb
    return torch.atan2(det, den) / (2 * math.pi)


def _winding_flat(
    query: torch.Tensor, body: torch.Tensor, tree: PosedTree, clusters: FaceClusters, beta: float
) -> torch.Tensor:
    """Winding numbers (N,) of points `query` (3, N) w.r.t. the meshes `body` (N,) long of the posed `tree`."""
    winding = torch.zeros(query.shape[1], dtype=query.dtype, device=query.device)
    point, node = clusters.top_pairs(query.shape[1], query.device)  # (K,) (point, node) pairs
    for level in range(len(clusters.level_sizes) - 1, -1, -1):
        data = tree.node_rows(level, body.index_select(0, point), node, slice(0, 7))  # (7, K)
        offset = data[:3] - query.index_select(1, point)  # (3, K)
        dist = vec3.norm(offset)
        far = dist > beta * data[6]
        dipole = vec3.dot(offset, data[3:6]) / (4 * math.pi * dist.clamp_min(1e-9).pow(3))
        winding.index_add_(0, point, torch.where(far, dipole, torch.zeros_like(dipole)))
        near = torch.nonzero(~far).squeeze(1)
        point, node = point.index_select(0, near), node.index_select(0, near)
        if level > 0:
            point, node = clusters.child_pairs(level, point, node)
    corners = tree.leaf_corners(body.index_select(0, point), node)
    exact = _solid_angles(query.index_select(1, point).unsqueeze(-1), corners)  # (K, S)
    return winding.index_add_(0, point, (exact * clusters.leaf_mask.index_select(0, node)).sum(-1))


@torch.no_grad()
def fast_winding_numbers_at(query: torch.Tensor, body: torch.Tensor, tree: PosedTree, clusters: FaceClusters,
                            beta: float = 1.0, chunk: int = 16384) -> torch.Tensor:  # fmt: skip
    """Approximate generalised winding numbers (N,) of points `query` (N, 3), metres, w.r.t. the meshes `body` (N,)
    long of a posed tree (`egohmr.collision.clusters.pose_tree`), same frame.

    Args:
        beta: a cluster counts as far when its centre is more than `beta` radii away.
        chunk: points evaluated at once; bounds the memory.

    Returns:
        (N,) float: about 1 inside, 0 outside (2 where two parts overlap). Not differentiable.
    """
    query = query.detach().to(tree.leaf_triangles.dtype).T.contiguous()  # (3, N)
    parts = [
        _winding_flat(q, b, tree, clusters, beta)
        for q, b in zip(query.split(chunk, dim=1), body.split(chunk), strict=True)
    ]
    return torch.cat(parts) if parts else query.new_zeros(0)


def fast_winding_numbers(points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor, clusters: FaceClusters,
                         beta: float = 1.0, chunk: int = 16384) -> torch.Tensor:  # fmt: skip
    """Approximate generalised winding numbers (B, P) of points (B, P, 3) w.r.t. meshes (B, V, 3), same frame
    (`fast_winding_numbers_at` for every point of every body).
    """
    body = torch.arange(len(points), device=points.device).repeat_interleave(points.shape[1])
    tree = pose_tree(vertices, faces, clusters)
    return fast_winding_numbers_at(points.reshape(-1, 3), body, tree, clusters, beta, chunk).view(points.shape[:2])
