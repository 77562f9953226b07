"""Projection and crop-camera conversions against the official formulas (rot6d_and_camera.npz)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egohmr.geometry.cameras import (
    crop_cam_to_full_transl,
    crop_cam_transl,
    full_transl_to_crop_cam,
    perspective_project,
)


def _t(g, key, dtype=torch.float64):
    return torch.from_numpy(g[key]).to(dtype)


@pytest.mark.parametrize(("dtype", "suffix", "atol_m", "atol_px"), [(torch.float64, "_f64", 1e-12, 1e-9),
                                                                     (torch.float32, "_f32", 2e-5, 2e-3)])  # fmt: skip
def test_golden_camera(golden, dtype, suffix, atol_m, atol_px):
    g = golden("rot6d_and_camera")
    fx, cx, cy = _t(g, "cam_fx", dtype), _t(g, "cam_cx", dtype), _t(g, "cam_cy", dtype)
    cam = _t(g, "pare_cam", dtype)
    transl = crop_cam_to_full_transl(cam, _t(g, "bbox_center", dtype), _t(g, "bbox_size", dtype), fx, cx, cy)
    np.testing.assert_allclose(transl.numpy(), g["cam_t_full" + suffix], rtol=1e-6 if suffix == "_f32" else 0,
                               atol=atol_m)  # fmt: skip
    crop_t = crop_cam_transl(cam, fx)
    np.testing.assert_allclose(crop_t.numpy(), g["crop_cam_t" + suffix], rtol=1e-6 if suffix == "_f32" else 0,
                               atol=atol_m)  # fmt: skip
    ref_transl = _t(g, "cam_t_full" + suffix, dtype)
    uv = perspective_project(_t(g, "persp_points", dtype) + ref_transl[:, None], fx, fx, cx, cy)
    np.testing.assert_allclose(uv.numpy(), g["persp_proj" + suffix], rtol=0, atol=atol_px)


def test_full_to_crop_is_inverse(golden):
    g = golden("rot6d_and_camera")
    args = (_t(g, "bbox_center"), _t(g, "bbox_size"), _t(g, "cam_fx"), _t(g, "cam_cx"), _t(g, "cam_cy"))
    cam = _t(g, "pare_cam")
    torch.testing.assert_close(full_transl_to_crop_cam(crop_cam_to_full_transl(cam, *args), *args), cam)


def test_projection_basics():
    pts = torch.tensor([[[0.0, 0.0, 2.0], [1.0, -0.5, 2.0]]], dtype=torch.float64)  # (1, 2, 3)
    uv = perspective_project(pts, 1000.0, 900.0, 960.0, 540.0)
    expected = torch.tensor([[[960.0, 540.0], [1460.0, 315.0]]], dtype=torch.float64)
    torch.testing.assert_close(uv, expected)
    # Per-frame intrinsics broadcast over points.
    pts2 = pts.expand(3, 2, 3)
    fx = torch.tensor([1000.0, 1500.0, 2000.0], dtype=torch.float64)
    uv2 = perspective_project(pts2, fx, fx, 960.0, 540.0)
    assert uv2.shape == (3, 2, 2)
    torch.testing.assert_close(uv2[:, 1, 0], 960.0 + fx * 0.5)


def test_projection_numpy_and_min_depth():
    pts = np.array([[[0.0, 0.0, 2.0], [1.0, -0.5, 2.0], [0.2, 0.1, 0.0]]])  # (1, 3, 3); the last on the camera plane
    uv = perspective_project(pts, np.array([1000.0]), 900.0, 960.0, 540.0)
    assert isinstance(uv, np.ndarray) and uv.shape == (1, 3, 2)
    np.testing.assert_allclose(uv[0, :2], [[960.0, 540.0], [1460.0, 315.0]])
    assert np.isinf(uv[0, 2]).all()
    clamped = perspective_project(pts, 1000.0, 900.0, 960.0, 540.0, min_depth_m=0.1)
    np.testing.assert_allclose(clamped[0, 2], [960.0 + 1000.0 * 2.0, 540.0 + 900.0 * 1.0])
    np.testing.assert_array_equal(clamped[0, :2], uv[0, :2])  # points in front are untouched
    torch.testing.assert_close(perspective_project(torch.from_numpy(pts), 1000.0, 900.0, 960.0, 540.0, 0.1),
                               torch.from_numpy(clamped))  # fmt: skip


def test_crop_camera_centred_box_round_numbers():
    # A box centred on the principal point: the full translation is the crop camera's (tx, ty) with tz = 2f/(s b).
    cam = torch.tensor([[0.9, 0.1, -0.2]], dtype=torch.float64)
    t = crop_cam_to_full_transl(cam, torch.tensor([[960.0, 540.0]]).double(), 300.0, 1500.0, 960.0, 540.0)
    torch.testing.assert_close(t, torch.tensor([[0.1, -0.2, 2 * 1500.0 / (0.9 * 300.0)]], dtype=torch.float64))
    # The crop camera's own translation: the box is 224 px.
    torch.testing.assert_close(
        crop_cam_transl(cam, 1500.0)[0, 2], torch.tensor(2 * 1500.0 / (224 * 0.9 + 1e-9)).double()
    )


def test_camera_shape_errors():
    with pytest.raises(ValueError, match="points_pv"):
        perspective_project(torch.zeros(4, 2), 1.0, 1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="cam_crop"):
        crop_cam_to_full_transl(torch.zeros(4, 2), torch.zeros(4, 2), 1.0, 1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="bbox_center_px"):
        full_transl_to_crop_cam(torch.ones(4, 3), torch.zeros(4, 3), 1.0, 1.0, 0.0, 0.0)
