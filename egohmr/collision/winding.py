"""Fast approximate generalised winding number of points w.r.t. posed meshes of one topology (not differentiable).

Two-level Barnes-Hut evaluation (after Barill et al. 2018, first order only). The triangles are grouped once per
topology into *leaves* of up to 16 edge- or vertex-connected triangles and leaves into *groups* of up to 8 connected
leaves, by region growing on the mesh graph: the clusters follow the surface, so they stay compact in every pose.
Per pose each cluster gets its summed area vector N (outward), the mean p of its vertices and the radius r of a ball
around p holding it. A point q sees

* a group farther than `beta` r as one dipole: (p - q) . N / (4 pi |p - q|^3);
* else each of its leaves farther than `beta` r the same way;
* else the leaf's triangles exactly (solid angle of Van Oosterom & Strackee 1983).

Near the surface, where the sign matters, the winding number is therefore exact up to far-field terms of a few
percent; it is 1 inside, 0 outside and 2 where two parts overlap, whatever the closest surface is.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import torch

__all__ = ["FaceClusters", "build_face_clusters", "fast_winding_numbers"]


@dataclass(frozen=True)
class FaceClusters:
    """Pose-independent two-level grouping of a topology's triangles.

    Attributes:
        leaf_faces: (L, S) long. Triangle ids of each leaf, padded by repeating its first one.
        leaf_mask: (L, S) bool. False for padding.
        leaf_vertices: (L, U) long. Vertex ids of each leaf's triangles, padded by repeating the first one.
        group_leaves: (G, M) long. Leaf ids of each group, padded by repeating its first one.
        group_mask: (G, M) bool. False for padding.
    """

    leaf_faces: torch.Tensor
    leaf_mask: torch.Tensor
    leaf_vertices: torch.Tensor
    group_leaves: torch.Tensor
    group_mask: torch.Tensor

    def to(self, device: torch.device | str) -> FaceClusters:
        return FaceClusters(*(getattr(self, name).to(device) for name in self.__dataclass_fields__))


def _grow_regions(neighbours: list[list[int]], size: int) -> list[list[int]]:
    """Partition nodes 0..N-1 into connected regions of at most `size` nodes (breadth-first from the lowest free id)."""
    region_of = [-1] * len(neighbours)
    regions: list[list[int]] = []
    for seed in range(len(neighbours)):
        if region_of[seed] >= 0:
            continue
        region, queue = [], deque([seed])
        region_of[seed] = len(regions)
        while queue and len(region) < size:
            node = queue.popleft()
            region.append(node)
            for other in neighbours[node]:
                if region_of[other] < 0 and len(region) + len(queue) < size:
                    region_of[other] = len(regions)
                    queue.append(other)
        regions.append(region)
    return regions


def _padded(regions: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in regions)
    ids = torch.tensor([r + [r[0]] * (width - len(r)) for r in regions], dtype=torch.long)
    mask = torch.tensor([[True] * len(r) + [False] * (width - len(r)) for r in regions])
    return ids, mask


def build_face_clusters(faces: torch.Tensor, leaf_size: int = 16, group_size: int = 8) -> FaceClusters:
    """Leaves of `leaf_size` connected triangles and groups of `group_size` connected leaves of a topology.

    Args:
        faces: (F, 3) int. Triangles.
    """
    faces = torch.as_tensor(faces).detach().to(torch.long).cpu()
    vertex_faces: dict[int, list[int]] = {}
    for face, corners in enumerate(faces.tolist()):
        for vertex in corners:
            vertex_faces.setdefault(vertex, []).append(face)
    face_neighbours = [sorted({f for v in corners for f in vertex_faces[v]} - {face}) for face, corners in
                       enumerate(faces.tolist())]  # fmt: skip
    leaves = _grow_regions(face_neighbours, leaf_size)
    leaf_of = [0] * len(faces)
    for leaf, members in enumerate(leaves):
        for face in members:
            leaf_of[face] = leaf
    leaf_neighbours = [sorted({leaf_of[n] for f in members for n in face_neighbours[f]} - {leaf}) for leaf, members in
                       enumerate(leaves)]  # fmt: skip
    groups = _grow_regions(leaf_neighbours, group_size)
    leaf_vertices, _ = _padded([sorted({v for f in members for v in faces[f].tolist()}) for members in leaves])
    return FaceClusters(*_padded(leaves), leaf_vertices, *_padded(groups))


def _triangle_solid_angles(query: torch.Tensor, corners: torch.Tensor) -> torch.Tensor:
    """Signed solid angle / 4 pi (..., S) of triangles `corners` (..., S, 3, 3) seen from `query` (..., 1, 3)."""
    a, b, c = (corners[..., i, :] - query for i in range(3))  # (..., S, 3) each
    la, lb, lc = a.norm(dim=-1), b.norm(dim=-1), c.norm(dim=-1)
    det = (a * torch.linalg.cross(b, c)).sum(-1)
    den = la * lb * lc + (a * b).sum(-1) * lc + (b * c).sum(-1) * la + (c * a).sum(-1) * lb
    return torch.atan2(det, den) / (2 * math.pi)


@dataclass(frozen=True)
class _PosedClusters:
    """Per-pose summaries of meshes (B, V, 3), metres, laid out for contiguous gathers.

    Attributes:
        group_centre: (B, G, 3). group_normal: (B, G, 3) summed area vectors. group_radius: (B, G).
        group_leaf_data: (B, G, M, 7) per member leaf: centre (3), summed area vector (3), radius (1).
        leaf_corners: (B, L, S, 3, 3) the leaves' triangles.
    """

    group_centre: torch.Tensor
    group_normal: torch.Tensor
    group_radius: torch.Tensor
    group_leaf_data: torch.Tensor
    leaf_corners: torch.Tensor


def _pose_clusters(vertices: torch.Tensor, faces: torch.Tensor, clusters: FaceClusters) -> _PosedClusters:
    leaf_corners = vertices[:, faces[clusters.leaf_faces]]  # (B, L, S, 3 corners, 3)
    edge1 = leaf_corners[..., 1, :] - leaf_corners[..., 0, :]
    edge2 = leaf_corners[..., 2, :] - leaf_corners[..., 0, :]
    leaf_weight = clusters.leaf_mask.to(vertices.dtype).unsqueeze(-1)  # (L, S, 1)
    leaf_normal = 0.5 * (torch.linalg.cross(edge1, edge2) * leaf_weight).sum(-2)  # (B, L, 3)
    leaf_points = vertices[:, clusters.leaf_vertices]  # (B, L, U, 3): the leaf lies in their convex hull
    leaf_centre = leaf_points.mean(-2)  # (B, L, 3)
    leaf_radius = (leaf_points - leaf_centre.unsqueeze(-2)).norm(dim=-1).amax(-1, keepdim=True)  # (B, L, 1)
    group_leaf_data = torch.cat([leaf_centre, leaf_normal, leaf_radius], dim=-1)[:, clusters.group_leaves]
    group_weight = clusters.group_mask.to(vertices.dtype).unsqueeze(-1)  # (G, M, 1)
    group_leaf_data = group_leaf_data * group_weight  # padding leaves: zero area, never near
    member_centre = group_leaf_data[..., :3]  # (B, G, M, 3)
    group_centre = member_centre.sum(-2) / group_weight.sum(-2)  # (B, G, 3)
    group_normal = group_leaf_data[..., 3:6].sum(-2)  # (B, G, 3)
    reach = (member_centre - group_centre.unsqueeze(-2)).norm(dim=-1) + group_leaf_data[..., 6]  # (B, G, M)
    group_radius = (reach * clusters.group_mask).amax(-1)  # padding members sit at the origin: ignored
    group_leaf_data[..., 6] = torch.where(clusters.group_mask, group_leaf_data[..., 6], -1.0)
    return _PosedClusters(group_centre, group_normal, group_radius, group_leaf_data, leaf_corners)


def _winding_block(points: torch.Tensor, posed: _PosedClusters, clusters: FaceClusters, beta: float) -> torch.Tensor:
    """Winding numbers (B, P) of points (B, P, 3): far groups, then far leaves of near groups, then exact triangles."""
    # Level 1, (B, P, G): squared distances and (centre - q) . normal by batched matrix products.
    centre, normal = posed.group_centre, posed.group_normal
    dist2 = (centre.square().sum(-1).unsqueeze(1) - 2 * points @ centre.transpose(1, 2)).add_(
        points.square().sum(-1, keepdim=True)
    )
    dist2.clamp_(min=1e-18)
    far = dist2 > (beta * posed.group_radius).square().unsqueeze(1)
    facing = (centre * normal).sum(-1).unsqueeze(1) - points @ normal.transpose(1, 2)
    winding = (facing * far / (4 * math.pi * dist2 * dist2.sqrt())).sum(-1)  # (B, P)
    # Level 2: the leaves of near groups, (K, M).
    body, point, group = torch.nonzero(~far, as_tuple=True)  # (K,) near (body, point, group) triples
    leaf_data = posed.group_leaf_data[body, group]  # (K, M, 7); padding: radius -1, zero normal
    q = points[body, point].unsqueeze(1)  # (K, 1, 3)
    offset = leaf_data[..., :3] - q  # (K, M, 3)
    dist = offset.norm(dim=-1)  # (K, M)
    far = dist > beta * leaf_data[..., 6]
    flat = body * points.shape[1] + point  # (K,)
    contribution = (offset * leaf_data[..., 3:6]).sum(-1) * far / (4 * math.pi * dist.pow(3).clamp_min(1e-18))
    winding.view(-1).index_add_(0, flat, contribution.sum(-1))
    # Level 3: the triangles of near leaves, exactly.
    pair, slot = torch.nonzero(~far, as_tuple=True)  # (N,) near leaves
    near_leaf = clusters.group_leaves[group[pair], slot]  # (N,)
    exact = _triangle_solid_angles(q[pair], posed.leaf_corners[body[pair], near_leaf])  # (N, S)
    winding.view(-1).index_add_(0, flat[pair], (exact * clusters.leaf_mask[near_leaf]).sum(-1))
    return winding


@torch.no_grad()
def fast_winding_numbers(points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor, clusters: FaceClusters,
                         beta: float = 1.0, chunk: int = 16384) -> torch.Tensor:  # fmt: skip
    """Approximate generalised winding numbers (B, P) of points (B, P, 3) w.r.t. meshes (B, V, 3), same frame.

    Args:
        faces: (F, 3) long, outward (counter-clockwise) triangles of the topology `clusters` was built for.
        beta: a cluster counts as far when its centre is more than `beta` radii away.
        chunk: points (summed over bodies) evaluated at once; bounds the memory.

    Returns:
        (B, P) float: about 1 inside, 0 outside (2 where two parts overlap). Not differentiable.
    """
    points, vertices = points.detach(), vertices.detach()
    if points.shape[1] == 0:
        return torch.zeros(points.shape[:2], dtype=vertices.dtype, device=vertices.device)
    posed = _pose_clusters(vertices, faces, clusters)
    blocks = points.to(vertices.dtype).split(max(chunk // len(points), 1), dim=1)
    return torch.cat([_winding_block(block, posed, clusters, beta) for block in blocks], dim=1)
