"""Fast, differentiable signed distance of scene points to a posed body mesh, and the penetration it implies.

Design (see docs/collision.md). A query point needs only:

1. the conservative grid cull of `egohmr.collision.grid` (a voxel shell of the surface and axis visibility):
   points it proves outside get signed distance +inf and no further work;
2. for the rest (near the surface, or hidden from every axis direction), the sign: inside where the fast
   generalised winding number (`egohmr.collision.winding`, Barnes-Hut over the cluster tree of
   `egohmr.collision.clusters`, exact near the point) exceeds 0.5;
3. the magnitude: the distance to the exact closest triangle (`egohmr.collision.closest`, a branch-and-bound
   descent of the same tree), recomputed with autograd on that triangle only.

The sign does not come from the normal at the closest point: where the body intersects itself (thighs folded into
the belly) the closest surface belongs to the swallowed part and its normal points the wrong way, while the winding
number stays right. Everything is torch, batched over bodies, and differentiable with respect to the vertex
positions (and so to pose and shape through skinning) through the distance; the sign is piecewise constant and
detached. The penetration needs the distance of inside points only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from egohmr.collision import vec3
from egohmr.collision.closest import closest_faces, closest_point_barycentric
from egohmr.collision.clusters import FaceClusters, PosedTree, build_face_clusters, pose_tree
from egohmr.collision.gather import body_rows
from egohmr.collision.grid import certainly_outside, unique_edges
from egohmr.collision.winding import fast_winding_numbers_at

__all__ = ["SurfaceIndex", "SurfacePenetration", "build_surface_index", "penetration_depth", "signed_distance"]

_EPS = 1e-12


@dataclass(frozen=True)
class SurfaceIndex:
    """Pose-independent structures of one mesh topology.

    Attributes:
        faces: (F, 3) long. Mesh triangles.
        edges: (E, 2) long. Every edge once (sizes the culling grid).
        clusters: the tree of surface clusters (`egohmr.collision.clusters`).
        num_vertices: V.
    """

    faces: torch.Tensor
    edges: torch.Tensor
    clusters: FaceClusters
    num_vertices: int

    def to(self, device: torch.device | str) -> SurfaceIndex:
        return SurfaceIndex(self.faces.to(device), self.edges.to(device), self.clusters.to(device), self.num_vertices)


def build_surface_index(faces: torch.Tensor, num_vertices: int) -> SurfaceIndex:
    """Edges and cluster tree of a topology: faces (F, 3) int over `num_vertices` vertices."""
    faces = torch.as_tensor(faces).detach().to(torch.long).cpu()
    return SurfaceIndex(faces, unique_edges(faces), build_face_clusters(faces), int(num_vertices))


def _check_shapes(points: torch.Tensor, vertices: torch.Tensor, index: SurfaceIndex) -> None:
    if points.ndim != 3 or points.shape[-1] != 3 or vertices.ndim != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"points (B,P,3) and vertices (B,V,3) expected, got {tuple(points.shape)}, "
                         f"{tuple(vertices.shape)}")  # fmt: skip
    if points.shape[0] != vertices.shape[0]:
        raise ValueError(f"batch sizes differ: points {points.shape[0]}, vertices {vertices.shape[0]}")
    if vertices.shape[1] != index.num_vertices:
        raise ValueError(f"vertices have {vertices.shape[1]} per body, the mesh topology {index.num_vertices}")


def _sides(points: torch.Tensor, vertices: torch.Tensor, index: SurfaceIndex, cell_size: float):
    """The points the grid cull leaves and their side, or None when it leaves none.

    Returns:
        (body, point, query, tree, inside): (N,) ids, coordinates (N, 3), the posed cluster tree and (N,) bool
        (winding number > 0.5).
    """
    body, point = torch.nonzero(~certainly_outside(points, vertices, index.edges, cell_size), as_tuple=True)
    if len(body) == 0:
        return None
    query = body_rows(points, body, point).to(vertices.dtype)
    tree = pose_tree(vertices, index.faces, index.clusters)
    inside = fast_winding_numbers_at(query, body, tree, index.clusters) > 0.5
    return body, point, query, tree, inside


def _distance(query: torch.Tensor, body: torch.Tensor, vertices: torch.Tensor, index: SurfaceIndex,
              tree: PosedTree) -> torch.Tensor:  # fmt: skip
    """Distance (N,) of points `query` (N, 3) to the meshes `body` (N,) of `vertices` (B, V, 3): exact, and
    differentiable w.r.t. `query` and `vertices` through the closest triangle."""
    face = closest_faces(query, body, tree, index.clusters)  # (N,)
    a, b, c = body_rows(vertices, body, index.faces[face]).permute(1, 2, 0)  # (3, N) each, coordinates first
    q = query.T
    bary = closest_point_barycentric(q, a, b, c)
    offset = q - (bary[0] * a + bary[1] * b + bary[2] * c)
    return (vec3.dot(offset, offset) + _EPS).sqrt()


def signed_distance(
    points: torch.Tensor, vertices: torch.Tensor, index: SurfaceIndex, cell_size: float = 0.03
) -> torch.Tensor:
    """Signed distance of points to posed meshes, negative inside; +inf for points culled as certainly outside.

    `certainly_outside` (a voxel shell of the surface and axis visibility) culls points that cannot be inside;
    every other point gets its side from the fast winding number and its distance from the exact closest triangle.

    Args:
        points: (B, P, 3) float, metres, same frame as `vertices`.
        vertices: (B, V, 3) float, metres. Posed meshes of the topology `index` was built for.
        index: SurfaceIndex of the topology.
        cell_size: metres. Cell of the culling grid (see `certainly_outside`).

    Returns:
        (B, P) float, metres: differentiable w.r.t. `vertices` and `points`; +inf for culled points.
    """
    _check_shapes(points, vertices, index)
    index = index.to(vertices.device)
    result = torch.full(points.shape[:2], float("inf"), dtype=vertices.dtype, device=vertices.device)
    sides = _sides(points, vertices, index, cell_size)
    if sides is None:
        return result
    body, point, query, tree, inside = sides
    distance = _distance(query, body, vertices, index, tree)
    return result.index_put((body, point), torch.where(inside, -distance, distance))


def penetration_depth(
    points: torch.Tensor, vertices: torch.Tensor, index: SurfaceIndex, cell_size: float = 0.03
) -> torch.Tensor:
    """Depth (B, P) of points inside posed meshes, metres, 0 outside: `-signed_distance` clamped at 0, with the
    distance computed for the inside points only.

    Args: as `signed_distance`.

    Returns:
        (B, P) float >= 0, differentiable w.r.t. `vertices` and `points`; without an autograd graph when no point is
        inside any body.
    """
    _check_shapes(points, vertices, index)
    index = index.to(vertices.device)
    result = torch.zeros(points.shape[:2], dtype=vertices.dtype, device=vertices.device)
    sides = _sides(points, vertices, index, cell_size)
    if sides is None:
        return result
    body, point, query, tree, is_inside = sides
    inside = torch.nonzero(is_inside).squeeze(1)
    if len(inside) == 0:
        return result
    body, point = body.index_select(0, inside), point.index_select(0, inside)
    depth = _distance(query.index_select(0, inside), body, vertices, index, tree)
    return result.index_put((body, point), depth)


class SurfacePenetration:
    """Per-point penetration depth of scene points into posed bodies of one topology (the fast scorer).

    Implements the `PenetrationScorer` interface: `scorer(points, vertices) -> (B, P)` metres, 0 outside the body
    and growing with depth inside, differentiable w.r.t. the vertices.
    """

    def __init__(self, faces: torch.Tensor, num_vertices: int) -> None:
        """Args: faces (F, 3) int and vertex count V of the body topology."""
        self.index = build_surface_index(faces, num_vertices)

    def __call__(self, points: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
        """Args: points (B, P, 3), vertices (B, V, 3), metres, same frame. Returns (B, P) depth >= 0, metres."""
        return penetration_depth(points, vertices, self.index)
