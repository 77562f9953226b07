"""Each official quirk, shown on a hand-made case where `official` and `corrected` differ."""

from __future__ import annotations

import math

import numpy as np
import pytest

from egohmr.evaluate.aggregate import evaluate_arrays
from egohmr.evaluate.metrics import contact, min_body_scene_distance
from egohmr.evaluate.settings import EvalSettings
from egohmr.evaluate.visibility import in_image_mask

OFFICIAL = EvalSettings(mode="official")
CORRECTED = EvalSettings(mode="corrected")


def _rot_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _frame(num_samples: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    gt_j = rng.normal(size=(1, 24, 3))
    gt_j[0, 0] = 0.0
    gt_v = rng.normal(size=(1, 30, 3))
    pred_j = np.repeat(gt_j[:, None], num_samples, axis=1).copy()
    pred_v = np.repeat(gt_v[:, None], num_samples, axis=1).copy()
    return pred_j, pred_v, gt_j, gt_v


def test_quirk_contact_threshold_on_squared_distance():
    body = np.zeros((1, 5, 3))
    scene = np.array([[0.1, 0.0, 0.0]])  # 0.1 m away: 0.01 m^2 < 0.02
    dist = min_body_scene_distance(scene, body)
    assert contact(dist, 0.02, official=True)[0] == 1.0
    assert contact(dist, 0.02, official=False)[0] == 0.0


def test_quirk_apd_extra_halving():
    pred_j, pred_v, gt_j, gt_v = _frame()
    pred_j[0, 1, 1:] += np.array([0.03, 0.04, 0.0])  # 5 cm at joints 1..23, pelvis stays
    vis = np.ones((1, 24), dtype=bool)
    vvis = np.ones((1, 30), dtype=bool)
    off = evaluate_arrays(pred_j, pred_v, gt_j, gt_v, vis, vvis, OFFICIAL)
    cor = evaluate_arrays(pred_j, pred_v, gt_j, gt_v, vis, vvis, CORRECTED)
    assert cor["apd_joints_mm"] == pytest.approx(50.0 * 23 / 24)
    assert off["apd_joints_mm"] == pytest.approx(cor["apd_joints_mm"] / 2)


def test_quirk_zero_filled_masked_procrustes():
    pred_j, pred_v, gt_j, gt_v = _frame(num_samples=1, seed=3)
    # Visible joints (1..15): an exact similarity transform of the GT; the invisible pelvis and joints 16..23 are
    # off, so after pelvis alignment the visible joints need a translation, which the zero-filled joints resist.
    pred_j[0, 0] = 1.2 * gt_j[0] @ _rot_z(0.5).T
    pred_j[0, 0, 0] += 0.3
    pred_j[0, 0, 16:] += 0.3
    vis = np.zeros((1, 24), dtype=bool)
    vis[0, 1:16] = True
    vvis = np.ones((1, 30), dtype=bool)
    cor = evaluate_arrays(pred_j, pred_v, gt_j, gt_v, vis, vvis, CORRECTED)
    off = evaluate_arrays(pred_j, pred_v, gt_j, gt_v, vis, vvis, OFFICIAL)
    assert cor["pa_mpjpe_vis_mm"] == pytest.approx(0.0, abs=1e-6)
    assert off["pa_mpjpe_vis_mm"] > 1.0  # the zeros of the 8 invisible joints pull the fit away
    # Without invisible joints both modes agree.
    all_vis = np.ones((1, 24), dtype=bool)
    a = evaluate_arrays(pred_j, pred_v, gt_j, gt_v, all_vis, vvis, CORRECTED)["pa_mpjpe_mm"]
    b = evaluate_arrays(pred_j, pred_v, gt_j, gt_v, all_vis, vvis, OFFICIAL)["pa_mpjpe_mm"]
    assert a == pytest.approx(b, abs=1e-9)


def test_quirk_no_behind_camera_check():
    # (0.5, 0.2, -2) projects to u = 1000*0.5/-2 + 960 = 710, v = 1000*0.2/-2 + 540 = 440: inside the image.
    points = np.array([[[0.5, 0.2, -2.0], [0.5, 0.2, 2.0]]])
    official = in_image_mask(points, 1000.0, 1000.0, 960.0, 540.0, official=True)
    corrected = in_image_mask(points, 1000.0, 1000.0, 960.0, 540.0, official=False)
    assert official.tolist() == [[True, True]]
    assert corrected.tolist() == [[False, True]]


def test_quirk_fx_used_for_y_projection():
    # v = f * 1 / 2 + 540: with fy = 1000 -> 1040 (inside); with fx = 1200 -> 1140 (outside 1080).
    points = np.array([[[0.0, 1.0, 2.0]]])
    assert in_image_mask(points, 1200.0, 1000.0, 960.0, 540.0, official=False).tolist() == [[True]]
    assert in_image_mask(points, 1200.0, 1000.0, 960.0, 540.0, official=True).tolist() == [[False]]


def test_quirk_visible_diversity_plain_mean_over_frames():
    rng = np.random.default_rng(4)
    pred_j = rng.normal(size=(2, 3, 24, 3))
    pred_v = rng.normal(size=(2, 3, 30, 3))
    gt_j, gt_v = rng.normal(size=(2, 24, 3)), rng.normal(size=(2, 30, 3))
    vis = np.ones((2, 24), dtype=bool)
    vis[1] = False  # frame 1: no visible joint -> its visible diversity is undefined
    vvis = np.ones((2, 30), dtype=bool)
    cor = evaluate_arrays(pred_j, pred_v, gt_j, gt_v, vis, vvis, CORRECTED)
    off = evaluate_arrays(pred_j, pred_v, gt_j, gt_v, vis, vvis, OFFICIAL)
    assert math.isfinite(cor["std_joints_vis_mm"]) and math.isfinite(cor["apd_joints_vis_mm"])
    assert math.isnan(off["std_joints_vis_mm"]) and math.isnan(off["apd_joints_vis_mm"])
    # The invisible subset drops NaN frames in both modes (frame 0 has no invisible joint).
    assert math.isfinite(off["std_joints_invis_mm"])
    assert off["std_joints_invis_mm"] == pytest.approx(cor["std_joints_invis_mm"])
