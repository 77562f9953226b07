"""Dense scene meshes: the tessellation keeps the surface, its area and colours, and bounds the edge length."""

import numpy as np

from egohmr.synth.writer import tessellate


def _areas(v, f):
    c = v[f]
    return 0.5 * np.linalg.norm(np.cross(c[:, 1] - c[:, 0], c[:, 2] - c[:, 0]), axis=1)


def test_tessellation_bounds_edges_and_keeps_area_and_plane():
    vertices = np.array([[0.0, 0, 0], [1.0, 0, 0], [0.0, 0, 0.3], [0.0, 2.0, 0.0]])
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    colors = np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]])
    v, f, c = tessellate(vertices, faces, colors, max_edge_m=0.1)
    corners = v[f]
    assert np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=-1).max() <= 0.1 + 1e-9
    np.testing.assert_allclose(_areas(v, f).sum(), _areas(vertices, faces).sum(), rtol=1e-9)
    # Every new vertex lies on one of the two input triangles' planes (y = 0 or x = 0).
    assert np.all((np.abs(v[:, 1]) < 1e-12) | (np.abs(v[:, 0]) < 1e-12))
    # Colours are interpolated: the original corner colours reappear at the corners.
    at_origin = np.linalg.norm(v, axis=1) < 1e-12
    np.testing.assert_allclose(c[at_origin], np.repeat([[1.0, 0, 0]], at_origin.sum(), axis=0), atol=1e-6)


def test_small_triangles_are_kept_as_they_are():
    vertices = np.array([[0.0, 0, 0], [0.01, 0, 0], [0.0, 0.01, 0]])
    v, f, c = tessellate(vertices, np.array([[0, 1, 2]]), None, max_edge_m=0.05)
    np.testing.assert_array_equal(v[f], vertices[None])  # same triangle, same corner order (orientation kept)
    assert c is None
