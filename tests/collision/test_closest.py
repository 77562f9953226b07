"""The cluster tree covers the mesh, and the closest-triangle descent finds the exact closest triangle."""

import numpy as np
import pytest
import torch

from egohmr.body import load_body_model
from egohmr.collision.closest import closest_faces, closest_point_barycentric
from egohmr.collision.clusters import build_face_clusters, pose_tree
from egohmr.collision.poses import folded_bodies


@pytest.fixture(scope="module")
def folded():
    """Open bodies in folded poses (B, V, 3) float32, faces (F, 3), their cluster tree."""
    body = load_body_model("open", "neutral")
    _, vertices = folded_bodies(body)
    return vertices[:3], body.faces, build_face_clusters(body.faces)


def _brute_force_distance(points: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(N,) distance of points (N, 3) to every triangle of one mesh, minimised."""
    a, b, c = (vertices[faces[:, i]].T.unsqueeze(1) for i in range(3))  # (3, 1, F)
    p = points.T.unsqueeze(-1)  # (3, N, 1)
    bary = closest_point_barycentric(p, a, b, c)
    closest = bary[0] * a + bary[1] * b + bary[2] * c
    return (p - closest).square().sum(0).sqrt().amin(-1)


def _distance_to(points: torch.Tensor, body: torch.Tensor, vertices: torch.Tensor, faces: torch.Tensor,
                 face: torch.Tensor) -> torch.Tensor:  # fmt: skip
    a, b, c = vertices[body.unsqueeze(1), faces[face]].permute(1, 2, 0)  # corners, each (3, N)
    bary = closest_point_barycentric(points.T, a, b, c)
    return (points.T - (bary[0] * a + bary[1] * b + bary[2] * c)).square().sum(0).sqrt()


def test_every_triangle_is_in_one_leaf_and_levels_shrink(folded):
    _, faces, clusters = folded
    members = clusters.leaf_faces[clusters.leaf_mask]
    assert torch.equal(members.sort().values, torch.arange(len(faces)))
    sizes = [len(clusters.leaf_faces), *(len(ids) for ids in clusters.children)]
    assert all(a > b for a, b in zip(sizes, sizes[1:], strict=False)) and sizes[-1] <= 16
    for level, (ids, mask) in enumerate(zip(clusters.children, clusters.children_mask, strict=True)):
        assert torch.equal(ids[mask].sort().values, torch.arange(sizes[level]))  # every node has one parent


def test_node_balls_hold_their_vertices_in_a_posed_body(folded):
    vertices, faces, clusters = folded
    tree = pose_tree(vertices, faces, clusters)
    leaves = tree.nodes[0].view(10, len(vertices), -1)  # (10, B, L)
    corners = vertices[:, clusters.leaf_vertices]  # (B, L, U, 3)
    reach = (corners - leaves[:3].permute(1, 2, 0).unsqueeze(2)).norm(dim=-1).amax(-1)  # (B, L)
    assert (reach <= leaves[6] + 1e-6).all()
    representative = leaves[7:].permute(1, 2, 0)  # (B, L, 3): a vertex of the leaf
    assert ((corners - representative.unsqueeze(2)).norm(dim=-1).amin(-1) < 1e-6).all()
    num_bodies, num_leaves, per_leaf = corners.shape[:3]
    body = torch.arange(num_bodies).view(-1, 1, 1).expand(-1, num_leaves, per_leaf).reshape(-1)
    leaf = torch.arange(num_leaves).view(1, -1, 1).expand(num_bodies, -1, per_leaf).reshape(-1)
    inside_cylinder = tree.leaf_distance_bound(corners.reshape(-1, 3).T, body, leaf)
    assert (inside_cylinder < 1e-6).all()  # every leaf vertex lies in its leaf's cylinder
    outside = corners.reshape(-1, 3).T + 0.05 * tree.leaf_cylinders[:3].index_select(1, body * num_leaves + leaf)
    assert (tree.leaf_distance_bound(outside, body, leaf) > 0).float().mean() > 0.9  # 5 cm along the axis: outside


def test_closest_faces_match_brute_force_inside_outside_and_far(folded):
    vertices, faces, clusters = folded
    rng = np.random.default_rng(0)
    lo, hi = vertices.amin(dim=(0, 1)), vertices.amax(dim=(0, 1))
    points = torch.from_numpy(rng.uniform(size=(600, 3))).float() * (hi - lo + 0.6) + (lo - 0.3)
    body = torch.from_numpy(rng.integers(0, len(vertices), 600))
    face = closest_faces(points, body, pose_tree(vertices, faces, clusters), clusters)
    found = _distance_to(points, body, vertices, faces, face)
    expected = torch.stack([_brute_force_distance(points[i : i + 1], vertices[body[i]], faces)[0] for i in range(600)])
    torch.testing.assert_close(found, expected, rtol=0, atol=1e-6)
    assert found.max() > 0.2 and found.min() < 0.02  # far points and points near the surface were both tried
