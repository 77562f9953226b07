"""A tree of surface clusters of one mesh topology, and its per-pose summaries (a bounding-volume hierarchy).

Once per topology the triangles are grouped into *leaves* of up to 16 edge- or vertex-connected triangles, and each
level into nodes of up to 8 connected nodes of the level below, by region growing on the mesh graph, until at most
16 nodes remain: the clusters follow the surface, not space, so they stay compact in every pose and nothing depends
on the pose they were built in (1,859 leaves, then 273, 55 and 15 nodes for the open body). Per pose
(`pose_tree`) every node gets its summed outward area vector, a centre and the radius of a ball around the centre
that holds its triangles. `egohmr.collision.winding` (inside or outside) and `egohmr.collision.closest` (closest
triangle) descend it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import torch

from egohmr.collision import vec3

__all__ = ["FaceClusters", "PosedTree", "build_face_clusters", "pose_tree"]


@dataclass(frozen=True)
class FaceClusters:
    """Pose-independent tree of a topology's triangles: leaves of connected triangles, then levels of connected nodes.

    Attributes:
        leaf_faces: (L, S) long. Triangle ids of each leaf, padded by repeating its first one.
        leaf_mask: (L, S) bool. False for padding.
        leaf_vertices: (L, U) long. Vertex ids of each leaf's triangles, padded by repeating the first one.
        children: per level above the leaves, bottom up: (N_k, M) long ids of each node's children in the level
            below, padded by repeating the first one. The last level holds the top nodes.
        children_mask: per level, (N_k, M) bool. False for padding.
    """

    leaf_faces: torch.Tensor
    leaf_mask: torch.Tensor
    leaf_vertices: torch.Tensor
    children: tuple[torch.Tensor, ...]
    children_mask: tuple[torch.Tensor, ...]

    @property
    def level_sizes(self) -> list[int]:
        """Nodes per level, leaves first."""
        return [len(self.leaf_faces), *(len(ids) for ids in self.children)]

    def top_pairs(self, num_points: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(point, node): every (point, top node) pair, each (num_points * top,) long."""
        top = self.level_sizes[-1]
        return (
            torch.arange(num_points, device=device).repeat_interleave(top),
            torch.arange(top, device=device).repeat(num_points),
        )

    def child_pairs(self, level: int, point: torch.Tensor, node: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(point, child) pairs of the children of nodes `node` (K,) of `level` >= 1, each paired with its `point`."""
        kids = self.children[level - 1].index_select(0, node)  # (K, M)
        real = torch.nonzero(self.children_mask[level - 1].index_select(0, node).view(-1)).squeeze(1)
        return point.repeat_interleave(kids.shape[1]).index_select(0, real), kids.view(-1).index_select(0, real)

    def to(self, device: torch.device | str) -> FaceClusters:
        return FaceClusters(
            self.leaf_faces.to(device),
            self.leaf_mask.to(device),
            self.leaf_vertices.to(device),
            tuple(c.to(device) for c in self.children),
            tuple(m.to(device) for m in self.children_mask),
        )


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


def _coarser(neighbours: list[list[int]], size: int) -> tuple[list[list[int]], list[list[int]]]:
    """Regions of at most `size` connected nodes and the adjacency of the regions."""
    regions = _grow_regions(neighbours, size)
    region_of = [0] * len(neighbours)
    for region, members in enumerate(regions):
        for node in members:
            region_of[node] = region
    adjacency = [sorted({region_of[n] for m in members for n in neighbours[m]} - {region}) for region, members in
                 enumerate(regions)]  # fmt: skip
    return regions, adjacency


def build_face_clusters(
    faces: torch.Tensor, leaf_size: int = 16, node_size: int = 8, top_nodes: int = 16
) -> FaceClusters:
    """Tree of a topology: leaves of `leaf_size` connected triangles, levels of `node_size` connected nodes, until at
    most `top_nodes` remain (or a level no longer shrinks, e.g. for many small separate parts).

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
    leaves, neighbours = _coarser(face_neighbours, leaf_size)
    leaf_vertices, _ = _padded([sorted({v for f in members for v in faces[f].tolist()}) for members in leaves])
    children, children_mask = [], []
    while len(neighbours) > top_nodes:
        nodes, coarser = _coarser(neighbours, node_size)
        if len(nodes) == len(neighbours):
            break
        ids, mask = _padded(nodes)
        children.append(ids)
        children_mask.append(mask)
        neighbours = coarser
    return FaceClusters(*_padded(leaves), leaf_vertices, tuple(children), tuple(children_mask))


@dataclass(frozen=True)
class PosedTree:
    """Per-pose summaries of the tree for B meshes, metres, coordinates first (`egohmr.collision.vec3`).

    Attributes:
        nodes: per level, leaves first: (10, B * N_k): rows centre (3), summed outward area vector (3), radius (1),
            one vertex of the node (3, a surface point within the radius); column b * N_k + node.
        leaf_cylinders: (6, B * L): a solid cylinder around each leaf, coaxial with its area vector through its
            centre: rows unit axis (3), lowest and highest height along it, radius; column b * L + leaf. Leaves are
            nearly flat patches, so the distance to it bounds their distance much more tightly than the ball.
        leaf_triangles: (B * L, 9 * S): the corners of each leaf's S triangles (padding repeats the first), row
            b * L + leaf, columns (corner, coordinate, triangle): one contiguous row per leaf, gathered at once.
        num_bodies: B.
    """

    nodes: tuple[torch.Tensor, ...]
    leaf_cylinders: torch.Tensor
    leaf_triangles: torch.Tensor
    num_bodies: int

    def node_rows(self, level: int, body: torch.Tensor, node: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
        """Rows `rows` (C of the 10) of nodes `node` (K,) of `level` of the meshes `body` (K,) long -> (C, K)."""
        return self.nodes[level][rows].index_select(1, self._column(level, body, node))

    def leaf_distance_bound(self, query: torch.Tensor, body: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
        """(K,) distance from points `query` (3, K) to the cylinders of leaves `leaf` (K,) of the meshes `body` (K,)
        long: no point of such a leaf is nearer."""
        column = self._column(0, body, leaf)
        cylinder = self.leaf_cylinders.index_select(1, column)  # (6, K)
        centre = self.nodes[0][:3].index_select(1, column)
        offset = query - centre
        height = vec3.dot(offset, cylinder[:3])
        lateral = vec3.norm(offset - height * cylinder[:3])
        above = (height - cylinder[4]).clamp_min(0) + (cylinder[3] - height).clamp_min(0)
        return torch.hypot((lateral - cylinder[5]).clamp_min(0), above)

    def leaf_corners(self, body: torch.Tensor, leaf: torch.Tensor) -> torch.Tensor:
        """Corners (3, 3, K, S) (corner a/b/c, coordinate, pair, triangle) of the triangles of leaves `leaf` (K,) of
        the meshes `body` (K,) long, in the order of `FaceClusters.leaf_faces`."""
        rows = self.leaf_triangles.index_select(0, self._column(0, body, leaf))  # (K, 9 * S)
        return rows.view(len(leaf), 3, 3, rows.shape[1] // 9).permute(1, 2, 0, 3)

    def _column(self, level: int, body: torch.Tensor, node: torch.Tensor) -> torch.Tensor:
        return body * (self.nodes[level].shape[1] // self.num_bodies) + node


def _members(table: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Columns `ids` (M, N) of every body of `table` (C, B, .) -> (C, B, M, N): members first, nodes last.

    (`index_select` over the last dimension of a 2-d view: several times faster on CPU than over dimension 2.)
    """
    flat = table.reshape(-1, table.shape[-1]).index_select(1, ids.reshape(-1))
    return flat.view(*table.shape[:2], *ids.shape)


def pose_tree(vertices: torch.Tensor, faces: torch.Tensor, clusters: FaceClusters) -> PosedTree:
    """Node summaries of posed meshes `vertices` (B, V, 3), metres, of the topology `faces` (F, 3) long that
    `clusters` was built for. Not differentiable."""
    vertices = vertices.detach()
    num_bodies = len(vertices)
    coords = vertices.permute(2, 0, 1).contiguous()  # (3, B, V)
    v0, v1, v2 = (_members(coords, faces[:, i : i + 1].T)[:, :, 0] for i in range(3))  # (3, B, F) each
    area = 0.5 * vec3.cross(v1 - v0, v2 - v0)  # (3, B, F) outward area vectors
    leaf_mask = clusters.leaf_mask.T.to(vertices.dtype)  # (S, L)
    leaf_normal = (_members(area, clusters.leaf_faces.T) * leaf_mask).sum(2)  # (3, B, L)
    leaf_points = _members(coords, clusters.leaf_vertices.T)  # (3, B, U, L): the leaf lies in their convex hull
    leaf_centre = leaf_points.mean(2)  # (3, B, L)
    offsets = leaf_points - leaf_centre.unsqueeze(2)  # (3, B, U, L)
    leaf_radius = vec3.norm(offsets).amax(1)  # (B, L)
    axis = leaf_normal / vec3.norm(leaf_normal).clamp_min(1e-20)  # (3, B, L); any axis bounds a degenerate leaf
    height = vec3.dot(offsets, axis.unsqueeze(2))  # (B, U, L)
    lateral = vec3.norm(offsets - height * axis.unsqueeze(2)).amax(1)  # (B, L)
    cylinders = torch.cat([axis, height.amin(1).unsqueeze(0), height.amax(1).unsqueeze(0), lateral.unsqueeze(0)])
    nodes = [torch.cat([leaf_centre, leaf_normal, leaf_radius.unsqueeze(0), leaf_points[:, :, 0]])]  # (10, B, L)
    for ids, mask in zip(clusters.children, clusters.children_mask, strict=True):
        members = _members(nodes[-1], ids.T)  # (10, B, M, N)
        weight = mask.T.to(vertices.dtype)  # (M, N)
        centre = (members[:3] * weight).sum(2) / weight.sum(0)  # (3, B, N)
        normal = (members[3:6] * weight).sum(2)  # (3, B, N)
        reach = vec3.norm(members[:3] - centre.unsqueeze(2)) + members[6]  # (B, M, N)
        radius = (reach * weight).amax(1)  # (B, N); padding members count 0
        nodes.append(torch.cat([centre, normal, radius.unsqueeze(0), members[7:, :, 0]]))
    triangles = torch.stack([_members(corner, clusters.leaf_faces.T) for corner in (v0, v1, v2)])  # (3, 3, B, S, L)
    triangles = triangles.permute(2, 4, 0, 1, 3).reshape(num_bodies * len(clusters.leaf_faces), -1).contiguous()
    return PosedTree(tuple(n.view(len(n), -1) for n in nodes), cylinders.view(6, -1), triangles, num_bodies)
