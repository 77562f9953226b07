"""Visibility mask and the pluggable inside tests."""

from __future__ import annotations

import numpy as np
import pytest

from egohmr.evaluate.inside import INSIDE_TESTS, default_inside_test, get_inside_test
from egohmr.evaluate.visibility import in_image_mask
from tests.evaluate.helpers import box_mesh, tetra_mesh


def test_in_image_bounds_are_half_open():
    # u = 1000 * x / 1 + 960: x = -0.96 -> u = 0 (inside), x = 0.96 -> u = 1920 (outside).
    points = np.array([[[-0.96, 0.0, 1.0], [0.96, 0.0, 1.0], [0.0, -0.54, 1.0], [0.0, 0.54, 1.0]]])
    mask = in_image_mask(points, [1000.0], [1000.0], [960.0], [540.0], image_size_px=(1920, 1080))
    assert mask.tolist() == [[True, False, True, False]]


def test_image_size_is_a_parameter():
    points = np.array([[[0.5, 0.0, 1.0]]])  # u = 1460
    assert in_image_mask(points, 1000.0, 1000.0, 960.0, 540.0, image_size_px=(1920, 1080)).tolist() == [[True]]
    assert in_image_mask(points, 1000.0, 1000.0, 960.0, 540.0, image_size_px=(1280, 1080)).tolist() == [[False]]


def test_behind_camera_counts_only_in_official_mode():
    points = np.array([[[0.0, 0.0, 2.0], [5.0, 0.0, 1.0], [0.0, 0.0, -2.0], [-0.5, -0.3, 1.0]]])
    # (50, 40) in; (550, 40) out; behind the camera projects to (50, 40): in (official); (0, 10) in (u >= 0)
    official = in_image_mask(points, 100.0, 100.0, 50.0, 40.0, image_size_px=(100, 80), official=True)
    assert official.tolist() == [[True, False, True, True]]
    corrected = in_image_mask(points, 100.0, 100.0, 50.0, 40.0, image_size_px=(100, 80), official=False)
    assert corrected.tolist() == [[True, False, False, True]]


def test_shape_error():
    with pytest.raises(ValueError, match="points_pv"):
        in_image_mask(np.zeros((4, 3)), 1.0, 1.0, 0.0, 0.0)


@pytest.mark.parametrize("name", INSIDE_TESTS)
def test_inside_tests_agree_on_box_and_tetra(name):
    if name == "trimesh":
        pytest.importorskip("embreex")
    test = get_inside_test(name)
    vertices, faces = box_mesh()
    points = np.array([[0.0, 0.0, 0.0], [0.49, 0.49, -0.49], [0.51, 0.0, 0.0], [3.0, 3.0, 3.0]])
    assert test(points, vertices, faces).tolist() == [True, True, False, False]
    vertices, faces = tetra_mesh()
    points = np.array([[0.1, 0.1, 0.1], [0.4, 0.4, 0.4], [-0.1, 0.1, 0.1]])  # 0.4*3 = 1.2 > 1: outside
    assert test(points, vertices, faces).tolist() == [True, False, False]


def test_default_and_unknown():
    assert callable(default_inside_test())
    with pytest.raises(ValueError, match="unknown inside test"):
        get_inside_test("coap")
