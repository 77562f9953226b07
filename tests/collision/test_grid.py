"""The grid cull never discards a point inside the body and discards most points away from it."""

import numpy as np
import pytest
import torch

from egohmr.body import load_body_model
from egohmr.collision import inside_mask
from egohmr.collision.grid import BODIES_PER_GRID, certainly_outside, unique_edges
from egohmr.geometry import axis_angle_to_rotmat


@pytest.fixture(scope="module")
def posed_bodies():
    """(4, V, 3) float64 open bodies (rest, crouch, two random poses), faces (F, 3), edges (E, 2)."""
    body = load_body_model("open", "neutral").to(torch.float64)
    aa = torch.randn(4, 24, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 0.4
    aa[:2] = 0.0
    aa[1, [1, 2], 0] = -2.0  # hips flexed far: thighs against the belly
    aa[1, [4, 5], 0] = 2.2  # knees fully bent
    rot = axis_angle_to_rotmat(aa)
    out = body(torch.zeros(4, 10, dtype=torch.float64), rot[:, 0], rot[:, 1:])
    return out.vertices.detach(), body.faces, unique_edges(body.faces)


def test_no_inside_point_is_culled(posed_bodies):
    vertices, faces, edges = posed_bodies
    rng = np.random.default_rng(0)
    lo, hi = vertices.amin(dim=1), vertices.amax(dim=1)
    points = torch.from_numpy(rng.uniform(size=(4, 20000, 3))) * (hi - lo + 0.2)[:, None] + (lo - 0.1)[:, None]
    culled = certainly_outside(points, vertices, edges).numpy()
    for b in range(4):
        inside = inside_mask(points[b].numpy(), vertices[b].numpy(), faces.numpy())
        assert inside.sum() > 100
        assert not (culled[b] & inside).any()
        assert culled[b][~inside].mean() > 0.8  # most outside points need no search


def test_far_points_are_culled_and_near_points_kept(posed_bodies):
    vertices, _, edges = posed_bodies
    pelvis = vertices[:1].mean(dim=1, keepdim=True)
    points = torch.cat([pelvis, pelvis + torch.tensor([[[5.0, 0.0, 0.0]]], dtype=torch.float64)], dim=1)
    assert certainly_outside(points, vertices[:1], edges).tolist() == [[False, True]]


def test_batch_of_bodies_of_different_size(posed_bodies):
    vertices, _, edges = posed_bodies
    small = vertices[:1] * 0.5
    points = vertices[:2].mean(dim=1, keepdim=True).expand(2, 1, 3)  # each body's vertex centroid
    culled = certainly_outside(points, torch.cat([small, vertices[1:2]]), edges)
    assert culled.shape == (2, 1) and not culled.any()


def test_a_bodys_cull_does_not_depend_on_the_other_bodies_in_the_batch(posed_bodies):
    """Cells are sized body by body: a coarse body (long edges) in the batch leaves the other body's answer as it is
    alone, so batched sampling gives every image the guidance it gets alone."""
    vertices, _, edges = posed_bodies
    rng = np.random.default_rng(1)
    lo, hi = vertices[0].amin(dim=0), vertices[0].amax(dim=0)
    points = torch.from_numpy(rng.uniform(size=(1, 5000, 3))) * (hi - lo + 0.2) + (lo - 0.1)
    alone = certainly_outside(points, vertices[:1], edges)
    coarse = vertices[1:2] * 4.0  # edges 4x longer: a 4x larger cell if it were shared
    together = certainly_outside(torch.cat([points, points]), torch.cat([vertices[:1], coarse]), edges)
    torch.testing.assert_close(together[0], alone[0], rtol=0, atol=0)


def test_a_batch_larger_than_one_grid_is_culled_in_chunks_with_the_same_answer(posed_bodies):
    vertices, _, edges = posed_bodies
    many = vertices.repeat(3, 1, 1)[: BODIES_PER_GRID + 3]  # more bodies than one grid holds
    rng = np.random.default_rng(2)
    lo, hi = vertices.amin(dim=(0, 1)), vertices.amax(dim=(0, 1))
    points = torch.from_numpy(rng.uniform(size=(len(many), 2000, 3))) * (hi - lo + 0.2) + (lo - 0.1)
    together = certainly_outside(points, many, edges)
    alone = torch.cat([certainly_outside(p[None], v[None], edges) for p, v in zip(points, many, strict=True)])
    assert torch.equal(together, alone) and together.any() and not together.all()
