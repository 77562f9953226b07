"""The fast winding number follows the exact one, so the score's sign is right where the body intersects itself."""

import igl
import numpy as np
import pytest
import torch
import trimesh

from egohmr.body import load_body_model
from egohmr.collision import SurfacePenetration, signed_distance, winding_numbers
from egohmr.collision.clusters import build_face_clusters
from egohmr.collision.poses import FOLDED_POSES, folded_bodies
from egohmr.collision.surface import build_surface_index
from egohmr.collision.winding import fast_winding_numbers


def _near_surface(mesh: trimesh.Trimesh, num: int, seed: int) -> np.ndarray:
    """(num, 3) points offset by U(-5, 5) cm along the normal from random surface points."""
    surface, face_ids = trimesh.sample.sample_surface(mesh, num, seed=seed)
    offset = np.random.default_rng(seed).uniform(-0.05, 0.05, (num, 1))
    return surface + offset * mesh.face_normals[face_ids]


@pytest.fixture(scope="module")
def knees_to_chest():
    """Open body, knees pulled to the chest (thighs folded into the belly): vertices (V, 3) float32, faces (F, 3)."""
    body = load_body_model("open", "neutral")
    names, vertices = folded_bodies(body)
    assert names == list(FOLDED_POSES)
    return vertices[names.index("knees to chest")], body.faces


@pytest.fixture(scope="module")
def overlapping_spheres():
    """Two closed unit spheres 1.5 apart (x) in one mesh: each swallows part of the other. float64 (V, 3), (F, 3)."""
    sphere = trimesh.creation.icosphere(4)
    vertices = np.concatenate([sphere.vertices, sphere.vertices + [1.5, 0.0, 0.0]])
    faces = np.concatenate([sphere.faces, sphere.faces + len(sphere.vertices)])
    return torch.tensor(vertices), torch.tensor(faces)


def test_folded_pose_intersects_itself(knees_to_chest):
    vertices, faces = knees_to_chest
    mesh = trimesh.Trimesh(vertices.numpy(), faces.numpy(), process=False)
    points = _near_surface(mesh, 3000, seed=0)
    assert (winding_numbers(points, vertices.numpy(), faces.numpy()) > 1.5).mean() > 0.05  # two parts overlap


def test_sign_agrees_with_the_exact_test_near_a_folded_body(knees_to_chest):
    vertices, faces = knees_to_chest
    mesh = trimesh.Trimesh(vertices.numpy(), faces.numpy(), process=False)
    points = _near_surface(mesh, 3000, seed=1)
    exact = winding_numbers(points, vertices.numpy(), faces.numpy())
    query = torch.from_numpy(points).float()[None]
    fast = fast_winding_numbers(query, vertices[None], faces, build_face_clusters(faces))[0].numpy()
    assert np.abs(fast - exact).max() < 0.4  # far-field approximation only
    sd = signed_distance(query, vertices[None], build_surface_index(faces, len(vertices)))[0].numpy()
    assert ((sd < 0) == (exact > 0.5)).mean() >= 0.99
    # The closest-surface pseudo-normal sign, which the score used before, misses many of these points.
    nearest_sign = igl.signed_distance(points, vertices.double().numpy(), faces.numpy(),
                                       sign_type=igl.SIGNED_DISTANCE_TYPE_PSEUDONORMAL)[0]  # fmt: skip
    assert ((nearest_sign < 0) == (exact > 0.5)).mean() < 0.95


def test_point_inside_one_part_next_to_the_swallowed_surface_of_another(overlapping_spheres):
    vertices, faces = overlapping_spheres
    point = np.array([[0.45, 0.0, 0.0]])  # inside sphere A, 5 cm outside sphere B whose surface A swallows
    assert winding_numbers(point, vertices.numpy(), faces.numpy())[0] == pytest.approx(1.0, abs=1e-6)
    nearest_sign = igl.signed_distance(point, vertices.numpy(), faces.numpy(),
                                       sign_type=igl.SIGNED_DISTANCE_TYPE_PSEUDONORMAL)[0]  # fmt: skip
    assert nearest_sign[0] == pytest.approx(0.05, abs=2e-3)  # closest surface (B) says outside: wrong
    sd = signed_distance(torch.tensor(point)[None], vertices[None], build_surface_index(faces, len(vertices)))
    assert sd.item() == pytest.approx(-0.05, abs=2e-3)  # inside, depth to the closest surface


def test_gradients_flow_through_the_distance_where_the_body_intersects_itself(overlapping_spheres):
    vertices, faces = overlapping_spheres
    scorer = SurfacePenetration(faces, len(vertices))
    points = torch.tensor([[[0.45, 0.0, 0.0], [0.0, 0.0, 0.3], [3.0, 0.0, 0.0]]], dtype=torch.float64)
    verts = vertices[None].clone().requires_grad_(True)
    depth = scorer(points, verts)
    assert depth[0, 0] > 0.04 and depth[0, 1] > 0.5 and depth[0, 2] == 0
    depth.sum().backward()
    assert torch.isfinite(verts.grad).all() and verts.grad.abs().sum() > 0.5
