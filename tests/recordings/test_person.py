"""Person choice and the box rule."""

from __future__ import annotations

import numpy as np
import pytest

from egohmr.recordings.person import MIN_BOX_SIDE_PX, box_center_scale, keypoint_box, select_person
from tests.recordings.helpers import person_op25


def test_keypoint_box_uses_confident_keypoints_only():
    kp = person_op25(10, 20, 50, 100)
    kp[12] = (500, 500, 0.0)  # undetected
    kp[13] = (-300, 5, 0.2)  # below the threshold
    assert keypoint_box(kp, conf_threshold=0.3) == pytest.approx((10, 20, 50, 100), abs=1e-9)
    assert keypoint_box(kp, conf_threshold=0.1) == pytest.approx((-300, 5, 50, 100), abs=1e-9)
    center, scale = box_center_scale((10, 20, 50, 100))
    np.testing.assert_allclose(center, (30, 60))
    assert scale == pytest.approx(80 / 200)


def test_keypoint_box_needs_two_points_and_a_minimum_side():
    kp = np.zeros((25, 3))
    kp[3] = (40, 40, 0.9)
    assert keypoint_box(kp) is None
    kp[4] = (42, 41, 0.9)
    x1, y1, x2, y2 = keypoint_box(kp)
    assert max(x2 - x1, y2 - y1) == pytest.approx(MIN_BOX_SIDE_PX)
    assert ((x1 + x2) / 2, (y1 + y2) / 2) == pytest.approx((41, 40.5))


def test_largest_person_by_default_and_count_reported():
    people = np.stack([person_op25(0, 0, 10, 20), person_op25(5, 5, 40, 45), person_op25(1, 1, 3, 3, conf=0.0)])
    chosen = select_person(people)
    assert chosen.person_index == 1 and chosen.num_people == 3
    assert chosen.bbox_px == pytest.approx((5, 5, 40, 45))
    assert chosen.visibility_source == "keypoints"
    assert select_person(people, person=0).bbox_px == pytest.approx((0, 0, 10, 20))


def test_threshold_zeroes_low_confidences_in_returned_keypoints():
    kp = person_op25(0, 0, 30, 40, conf=0.9)
    kp[5, 2] = 0.2
    chosen = select_person(kp[None], conf_threshold=0.5)
    assert chosen.keypoints_op25[5, 2] == 0.0 and chosen.keypoints_op25[6, 2] == pytest.approx(0.9)


def test_given_box_wins_and_picks_the_overlapping_person():
    people = np.stack([person_op25(0, 0, 10, 10), person_op25(50, 50, 90, 90)])
    chosen = select_person(people, bbox_px=(48, 45, 95, 92))
    assert chosen.bbox_px == (48, 45, 95, 92) and chosen.person_index == 1
    far = select_person(people, bbox_px=(200, 200, 220, 240))
    assert far.keypoints_op25 is None and far.visibility_source == "bbox" and far.num_people == 2
    only_box = select_person(None, bbox_px=(1, 2, 3, 4))
    assert only_box.visibility_source == "bbox" and only_box.num_people is None


def test_no_usable_person_and_bad_requests():
    assert select_person(np.zeros((0, 25, 3))) is None
    assert select_person(np.zeros((2, 25, 3))) is None
    with pytest.raises(ValueError, match="person 2 requested but the frame has 2 people"):
        select_person(np.zeros((2, 25, 3)), person=2, where="f.json")
    assert select_person(None) is None
