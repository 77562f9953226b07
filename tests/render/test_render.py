"""Renderer tests: geometry of the projection, depth, ids, near-plane clipping and EGL/numpy agreement."""

from __future__ import annotations

import numpy as np
import pytest

from egohmr.render import Mesh, egl_available, render
from egohmr.render.numpy_renderer import _clip_near


def _box(center, size):
    c = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)]) * size + center
    faces = [(0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1), (2, 3, 7), (2, 7, 6), (0, 2, 6)]
    faces += [(0, 6, 4), (1, 5, 7), (1, 7, 3)]
    return c, np.array(faces)


def _scene():
    v0, f0 = _box(np.array([0.0, 0.0, 3.0]), np.array([1.0, 1.0, 1.0]))
    v1, f1 = _box(np.array([0.4, 0.2, 2.0]), np.array([0.5, 0.6, 0.3]))
    floor = np.array([[-5, 0.8, 0.01], [5, 0.8, 0.01], [5, 0.8, 9], [-5, 0.8, 9]])  # starts behind the near plane
    return [
        Mesh(v0, f0, np.array([200, 60, 60], np.uint8), 0),
        Mesh(v1, f1, np.array([0.2, 0.8, 0.2]), 1),
        Mesh(floor, np.array([[0, 1, 2], [0, 2, 3]]), np.array([0.4, 0.4, 0.9]), 2),
    ]


K = (200.0, 210.0, 79.5, 59.5)


def test_numpy_projection_depth_and_ids():
    out = render(_scene(), K, None, 160, 120, "numpy")
    assert out.rgb.shape == (120, 160, 3) and out.rgb.dtype == np.uint8
    assert out.depth.dtype == np.float32 and out.object_id.dtype == np.int32
    # The small box (id 1, front face at z = 1.85) covers the projection of its centre.
    u = K[0] * 0.4 / 1.85 + K[2]
    v = K[1] * 0.2 / 1.85 + K[3]
    assert out.object_id[round(v), round(u)] == 1
    assert out.depth[round(v), round(u)] == pytest.approx(1.85, abs=1e-4)
    # Its silhouette edges sit where the pinhole model puts them (pixel centres at integers).
    x_left = K[0] * (0.4 - 0.25) / 2.15 + K[2]  # the far edge of the side face is leftmost
    row = out.object_id[round(v)]
    first = int(np.nonzero(row == 1)[0][0])
    assert first == int(np.ceil(x_left))
    # Background: no object, infinite depth.
    assert out.object_id[0, 0] == -1 and np.isinf(out.depth[0, 0])
    # The floor is clipped at the near plane, not folded behind the camera.
    assert np.all(out.object_id[-1] == 2)


def test_clip_near_keeps_the_front_part():
    P = np.array([[[0.0, 0.0, -1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]])
    A = np.zeros((1, 3, 4))
    Pc, Ac = _clip_near(P, A, 0.5)
    assert Pc.shape == (2, 3, 3) and Ac.shape == (2, 3, 4)
    assert Pc[..., 2].min() >= 0.5 - 1e-12


def test_world2cam_equals_pretransformed():
    meshes = _scene()
    T = np.eye(4)
    a = 0.3
    T[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
    T[:3, 3] = [0.1, -0.2, 0.5]
    Tinv = np.linalg.inv(T)
    world = [Mesh(m.vertices @ Tinv[:3, :3].T + Tinv[:3, 3], m.faces, m.colors, m.object_id) for m in meshes]
    a_out = render(world, K, T, 160, 120, "numpy")
    b_out = render(meshes, K, None, 160, 120, "numpy")
    assert (a_out.object_id != b_out.object_id).mean() < 1e-3


def test_bad_backend_raises():
    with pytest.raises(ValueError, match="backend"):
        render(_scene(), K, None, 16, 12, "vulkan")


@pytest.mark.skipif(not egl_available(), reason="EGL (moderngl) unavailable")
def test_egl_matches_numpy():
    a = render(_scene(), K, None, 160, 120, "egl")
    b = render(_scene(), K, None, 160, 120, "numpy")
    assert (a.object_id != b.object_id).mean() < 2e-3
    both = (a.object_id == b.object_id) & (a.object_id >= 0)
    assert np.abs(a.depth[both] - b.depth[both]).max() < 1e-3
    assert np.median(np.abs(a.rgb.astype(int) - b.rgb.astype(int))) <= 1
