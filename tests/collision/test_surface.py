"""The fast signed distance agrees with the exact winding-number test and gives useful gradients."""

import igl
import numpy as np
import pytest
import torch
import trimesh

from egohmr.collision import SurfacePenetration, inside_mask, signed_distance
from egohmr.collision.closest import closest_point_barycentric
from egohmr.collision.surface import build_surface_index


@pytest.fixture(scope="module")
def ellipsoid():
    mesh = trimesh.creation.icosphere(4)
    mesh.vertices *= np.array([0.3, 0.9, 0.15])
    return torch.tensor(mesh.vertices), torch.tensor(mesh.faces), mesh


def test_closest_point_regions_on_a_unit_triangle():
    a, b, c = torch.tensor([0.0, 0, 0]), torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0])
    queries = torch.tensor([[0.2, 0.2, 1.0], [-1.0, -1.0, 0.0], [2.0, -0.5, 0.0], [0.5, -1.0, 0.3], [1.0, 1.0, 0.0]])
    bary = closest_point_barycentric(queries.T, a[:, None], b[:, None], c[:, None]).T  # coordinates first
    closest = bary[:, :1] * a + bary[:, 1:2] * b + bary[:, 2:] * c
    expected = torch.tensor([[0.2, 0.2, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.5, 0.5, 0.0]])
    torch.testing.assert_close(closest, expected)


def test_sign_and_distance_match_exact_test_near_the_surface(ellipsoid):
    vertices, faces, mesh = ellipsoid
    rng = np.random.default_rng(0)
    surface, face_ids = trimesh.sample.sample_surface(mesh, 3000, seed=1)
    offset = rng.uniform(-0.05, 0.05, (3000, 1))
    points = surface + offset * mesh.face_normals[face_ids]
    sd = signed_distance(torch.tensor(points)[None], vertices[None], build_surface_index(faces, len(vertices)))[0]
    inside = inside_mask(points, mesh.vertices, mesh.faces)
    sd = sd.numpy()
    assert ((sd < 0) == inside).mean() >= 0.999
    exact = igl.signed_distance(points, np.asarray(mesh.vertices), np.asarray(mesh.faces, dtype=np.int64))[0]
    assert not inside[np.isinf(sd)].any()  # culled points are outside
    kept = np.isfinite(sd)
    assert kept.sum() > 2000
    np.testing.assert_allclose(np.abs(sd[kept]), np.abs(exact[kept]), atol=1e-6)  # the exact closest triangle


def test_far_points_and_empty_scenes_give_zero_penetration_without_nan(ellipsoid):
    vertices, faces, _ = ellipsoid
    scorer = SurfacePenetration(faces, len(vertices))
    far = torch.full((2, 10, 3), 5.0, dtype=torch.float64)
    verts = vertices[None].repeat(2, 1, 1).requires_grad_(True)
    pen = scorer(far, verts)
    assert torch.equal(pen, torch.zeros_like(pen))
    assert not pen.requires_grad  # nothing near the body: no graph, callers treat the gradient as zero
    empty = scorer(torch.zeros(2, 0, 3, dtype=torch.float64), verts)
    assert empty.shape == (2, 0)


def test_penetration_gradient_pushes_the_body_away_from_an_inside_point(ellipsoid):
    vertices, faces, _ = ellipsoid
    scorer = SurfacePenetration(faces, len(vertices))
    shift = torch.zeros(1, 1, 3, dtype=torch.float64, requires_grad=True)
    point = torch.tensor([[[0.25, 0.0, 0.0]]], dtype=torch.float64)  # inside, near the +x side
    depth = scorer(point, vertices[None] + shift)
    assert depth.item() > 0.02
    depth.sum().backward()
    # Moving the body towards +x would bury the point deeper: the gradient must say so (descent moves it to -x).
    assert shift.grad[0, 0, 0] > 0.9 and shift.grad[0, 0, 1:].abs().max() < 0.1


def test_batched_bodies_are_independent(ellipsoid):
    vertices, faces, _ = ellipsoid
    index = build_surface_index(faces, len(vertices))
    points = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 0.0, 0.5]]], dtype=torch.float64).repeat(2, 1, 1)
    moved = torch.stack([vertices, vertices + torch.tensor([0.0, 0.0, 0.5], dtype=torch.float64)])
    sd = signed_distance(points, moved, index)
    assert sd[0, 0] < 0 and sd[0, 1] > 0 and sd[1, 0] > 0 and sd[1, 1] < 0


def test_shape_errors_name_the_argument(ellipsoid):
    vertices, faces, _ = ellipsoid
    with pytest.raises(ValueError, match="batch sizes differ"):
        signed_distance(torch.zeros(2, 3, 3), vertices[None].float(), build_surface_index(faces, len(vertices)))
