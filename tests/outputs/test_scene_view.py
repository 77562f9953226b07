"""Render in the 3D scene: the look-at camera, point splats and the composed view."""

from __future__ import annotations

import numpy as np
import pytest

from egohmr.outputs.scene_view import BACKGROUND_RGB, draw_points, look_at_world2cam, render_scene_view
from tests.outputs.helpers import make_record


def test_look_at_puts_the_target_on_the_optical_axis():
    eye, target = np.array([0.3, -1.5, -1.0]), np.array([0.5, 0.2, 3.0])
    T = look_at_world2cam(eye, target)
    R = T[:3, :3]
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-12) and np.linalg.det(R) == pytest.approx(1.0)
    t_cam = R @ target + T[:3, 3]
    assert np.allclose(t_cam[:2], 0, atol=1e-12) and t_cam[2] > 0
    assert np.allclose(R @ eye + T[:3, 3], 0, atol=1e-12)
    up_cam = R @ np.array([0.0, -1.0, 0.0])  # world up appears as image up (-y)
    assert up_cam[1] < 0 and abs(up_cam[0]) < 1e-12
    with pytest.raises(ValueError, match="coincide"):
        look_at_world2cam(eye, eye)


def test_draw_points_nearest_wins():
    K, T = (10.0, 10.0, 5.0, 5.0), np.eye(4)
    pts = np.array([[0.0, 0.0, 2.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])  # same pixel; one behind the camera
    cols = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    rgb, depth = draw_points(pts, cols, K, T, 10, 10, radius_px=1)
    assert np.all(rgb[4:7, 4:7] == [0, 255, 0]) and np.all(depth[4:7, 4:7] == 1.0)
    assert np.isinf(depth[0, 0]) and np.sum(np.isfinite(depth)) == 9


@pytest.mark.parametrize("samples", ["mode", "all"])
def test_scene_view_shows_scene_and_bodies(samples):
    rec = make_record(num_samples=3)
    img = render_scene_view(rec, 160, 90, samples=samples, backend="numpy")
    assert img.shape == (90, 160, 3) and img.dtype == np.uint8
    background = np.all(img == BACKGROUND_RGB, axis=2)
    assert 0.05 < background.mean() < 0.98  # scene points and bodies drawn, not everything covered
    px = img.reshape(-1, 3).astype(int)
    reddish = (px[:, 0] > px[:, 1] + 40) & (px[:, 0] > px[:, 2] + 40)
    greenish = (px[:, 1] > px[:, 0] + 40) & (px[:, 1] > px[:, 2] + 20)
    assert reddish.sum() > 20 or samples == "all"  # the opaque-ish mode sample is red
    assert greenish.sum() > 5  # the GT is there too
    no_gt = render_scene_view(rec, 160, 90, samples=samples, show_gt=False, backend="numpy")
    px = no_gt.reshape(-1, 3).astype(int)
    assert np.sum((px[:, 1] > px[:, 0] + 40) & (px[:, 1] > px[:, 2] + 20)) < greenish.sum()
    with pytest.raises(ValueError, match="samples"):
        render_scene_view(rec, 16, 9, samples="some", backend="numpy")


def test_scene_view_from_a_given_camera_matches_the_overlay_geometry():
    rec = make_record(num_samples=1, with_gt=False)
    img = render_scene_view(rec, 320, 180, samples="mode", backend="numpy", camera=(rec.intrinsics_px, np.eye(4)))
    fx, fy, cx, cy = rec.intrinsics_px
    v = rec.pred_vertices_pv[0]
    u = fx * v[:, 0] / v[:, 2] + cx
    px = img.reshape(180, 320, 3).astype(int)
    red = (px[..., 0] > px[..., 1] + 40) & (px[..., 0] > px[..., 2] + 40) & (px[..., 1] < 120)  # not the yellow marker
    ys, xs = np.nonzero(red)
    assert red.sum() > 500 and abs(xs.mean() - u.mean()) < 6
    with pytest.raises(ValueError, match="camera"):
        render_scene_view(rec, 32, 18, camera=((1.0, 1.0, 1.0), np.eye(4)), backend="numpy")
