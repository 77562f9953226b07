"""Closest triangle of posed meshes to query points: exact, by a branch-and-bound descent of the cluster tree.

Every node of `egohmr.collision.clusters` holds its triangles in a ball (centre c, radius r) and knows one of its
vertices v, so a point q has a surface point within |q - v| and none of the node nearer than |q - c| - r. Level by
level a point keeps only the nodes whose lower bound does not exceed its nearest such vertex; the triangles of the
leaves it keeps are tested exactly. The node holding the closest point is never dropped, so the result is the exact
closest triangle.
"""

from __future__ import annotations

import torch

from egohmr.collision import vec3
from egohmr.collision.clusters import FaceClusters, PosedTree

__all__ = ["closest_faces", "closest_point_barycentric"]

_EPS = 1e-12


def _safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    return num / torch.where(den.abs() < _EPS, torch.full_like(den, _EPS), den)


def closest_point_barycentric(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Barycentric coordinates (3, ...) of the point of triangle (a, b, c) closest to p; inputs (3, ...), coordinates
    first (broadcast).

    Voronoi-region classification of Ericson, "Real-Time Collision Detection" (2005), section 5.1.5, vectorised:
    every region's answer is computed and the applicable one selected, in the order vertex, edge, face.
    """
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = vec3.dot(ab, ap), vec3.dot(ac, ap)
    bp = p - b
    d3, d4 = vec3.dot(ab, bp), vec3.dot(ac, bp)
    cp = p - c
    d5, d6 = vec3.dot(ab, cp), vec3.dot(ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    one, zero = torch.ones_like(d1), torch.zeros_like(d1)
    denom = va + vb + vc
    v, w = _safe_div(vb, denom), _safe_div(vc, denom)  # face interior
    w_bc = _safe_div(d4 - d3, (d4 - d3) + (d5 - d6))
    regions = [  # (mask, v, w), lowest priority first; later entries override earlier ones
        ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), 1 - w_bc, w_bc),  # edge BC
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), zero, _safe_div(d2, d2 - d6)),  # edge AC
        ((d6 >= 0) & (d5 <= d6), zero, one),  # vertex C
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), _safe_div(d1, d1 - d3), zero),  # edge AB
        ((d3 >= 0) & (d4 <= d3), one, zero),  # vertex B
        ((d1 <= 0) & (d2 <= 0), zero, zero),  # vertex A
    ]
    for mask, v_region, w_region in regions:
        v, w = torch.where(mask, v_region, v), torch.where(mask, w_region, w)
    return torch.stack([1 - v - w, v, w])


def _per_point_min(values: torch.Tensor, point: torch.Tensor, num_points: int) -> torch.Tensor:
    """(N,) smallest of `values` (K,) per owner `point` (K,) long (inf where a point owns none)."""
    best = torch.full((num_points,), float("inf"), dtype=values.dtype, device=values.device)
    return best.scatter_reduce_(0, point, values, reduce="amin")


def _leaf_triangles(query: torch.Tensor, body: torch.Tensor, point: torch.Tensor, leaf: torch.Tensor,
                    tree: PosedTree, clusters: FaceClusters):  # fmt: skip
    """Squared distances (K * S,) from points `point` (K,) to the triangles of leaves `leaf` (K,), with the owning
    point and the face id of each (padding: inf)."""
    face_ids = clusters.leaf_faces.index_select(0, leaf)  # (K, S)
    a, b, c = tree.leaf_corners(body.index_select(0, point), leaf)  # (3, K, S) each
    q = query.index_select(1, point).unsqueeze(-1)  # (3, K, 1)
    bary = closest_point_barycentric(q, a, b, c)
    offset = q - (bary[0] * a + bary[1] * b + bary[2] * c)
    dist2 = torch.where(clusters.leaf_mask.index_select(0, leaf), vec3.dot(offset, offset), float("inf"))
    return dist2.reshape(-1), point.repeat_interleave(face_ids.shape[1]), face_ids.view(-1)


def _closest_flat(query: torch.Tensor, body: torch.Tensor, tree: PosedTree, clusters: FaceClusters) -> torch.Tensor:
    """Closest face ids (N,) of points `query` (3, N) on the meshes `body` (N,) long of the posed `tree`.

    Descent to the candidate leaves; then the leaf of smallest lower bound is tested first, and its exact distance
    prunes the other candidates before their triangles are tested.
    """
    num_points = query.shape[1]
    point, node = clusters.top_pairs(num_points, query.device)  # (K,) (point, node) pairs
    for level in range(len(clusters.level_sizes) - 1, -1, -1):
        owner = body.index_select(0, point)  # (K,) mesh of each pair
        data = tree.node_rows(level, owner, node)  # (10, K)
        q = query.index_select(1, point)  # (3, K)
        upper = _per_point_min(vec3.norm(data[7:] - q), point, num_points)  # (N,) a surface point is this near
        lower = vec3.norm(data[:3] - q) - data[6]  # (K,) no point of the node is nearer
        if level == 0:
            lower = torch.maximum(lower, tree.leaf_distance_bound(q, owner, node))
        keep = torch.nonzero(lower <= upper.index_select(0, point)).squeeze(1)
        point, node, lower = point.index_select(0, keep), node.index_select(0, keep), lower.index_select(0, keep)
        if level > 0:
            point, node = clusters.child_pairs(level, point, node)
    first = lower == _per_point_min(lower, point, num_points).index_select(0, point)  # (K,) most promising leaf
    tested = [_leaf_triangles(query, body, point[first], node[first], tree, clusters)]
    upper = _per_point_min(tested[0][0], tested[0][1], num_points).sqrt()  # (N,) exact distance to that leaf
    rest = ~first & (lower <= upper.index_select(0, point))
    tested.append(_leaf_triangles(query, body, point[rest], node[rest], tree, clusters))
    dist2, owner, face = (torch.cat(parts) for parts in zip(*tested, strict=True))
    winner = torch.nonzero(dist2 == _per_point_min(dist2, owner, num_points).index_select(0, owner)).squeeze(1)
    closest = torch.zeros(num_points, dtype=torch.long, device=query.device)
    return closest.scatter_(0, owner.index_select(0, winner), face.index_select(0, winner))


@torch.no_grad()
def closest_faces(query: torch.Tensor, body: torch.Tensor, tree: PosedTree, clusters: FaceClusters,
                  chunk: int = 8192) -> torch.Tensor:  # fmt: skip
    """Ids (N,) long of the triangles closest to points `query` (N, 3), metres, on the meshes `body` (N,) long of a
    posed tree (`egohmr.collision.clusters.pose_tree`) of the topology `clusters` was built for, same frame. Exact
    (ties: any of the closest). Not differentiable: recompute the distance to the returned triangles for gradients.

    Args:
        chunk: points evaluated at once; bounds the memory.
    """
    query = query.detach().to(tree.leaf_triangles.dtype).T.contiguous()  # (3, N)
    parts = [
        _closest_flat(q, b, tree, clusters) for q, b in zip(query.split(chunk, dim=1), body.split(chunk), strict=True)
    ]
    return torch.cat(parts) if parts else body.new_zeros(0)
