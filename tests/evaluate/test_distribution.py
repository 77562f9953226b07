"""Distribution scores on distributions whose answer is known: samples from the truth's distribution score best and
are calibrated; a too-narrow and a too-wide spread score worse and show as under- and over-coverage."""

import numpy as np
import pytest

from egohmr.evaluate.distribution import coverage_counts, energy_score, spread_radius_factor

FRAMES, JOINTS, SIGMA_M = 400, 12, 0.05


def _draw(num_samples: int, spread_scale: float, seed: int = 0):
    """Truth and samples from the same isotropic Gaussian around a per-joint centre; samples' std scaled."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(size=(FRAMES, JOINTS, 3))
    gt = centre + SIGMA_M * rng.normal(size=centre.shape)
    pred = centre[:, None] + spread_scale * SIGMA_M * rng.normal(size=(FRAMES, num_samples, JOINTS, 3))
    return pred, gt, np.ones((FRAMES, JOINTS), bool)


@pytest.mark.parametrize("num_samples", [5, 20])
def test_energy_score_is_lowest_for_samples_of_the_true_distribution(num_samples):
    scores = {scale: np.mean(energy_score(*_draw(num_samples, scale))) for scale in (0.3, 1.0, 3.0)}
    assert scores[1.0] < scores[0.3]
    assert scores[1.0] < scores[3.0]


def test_energy_score_matches_the_definition_on_one_joint():
    pred = np.array([[[[0.0, 0, 0]], [[3.0, 0, 0]], [[0.0, 4, 0]]]])  # (1, 3, 1, 3)
    gt = np.array([[[0.0, 0, 1]]])
    to_truth = (1 + np.sqrt(10) + np.sqrt(17)) / 3
    pairs = 2 * (3 + 4 + 5) / (2 * 3 * 2)
    np.testing.assert_allclose(energy_score(pred, gt, np.ones((1, 1), bool)), [to_truth - pairs])


def test_energy_score_averages_only_masked_joints_and_is_nan_without_any():
    pred, gt, _ = _draw(5, 1.0)
    mask = np.zeros((FRAMES, JOINTS), bool)
    mask[0, 3] = True
    one = energy_score(pred[:1, :, 3:4], gt[:1, 3:4], np.ones((1, 1), bool))
    scores = energy_score(pred, gt, mask)
    np.testing.assert_allclose(scores[0], one[0])
    assert np.isnan(scores[1:]).all()


@pytest.mark.parametrize("num_samples", [5, 20])
def test_samples_of_the_true_distribution_are_calibrated(num_samples):
    levels = (0.5, 0.8, 0.9)
    inside, total = coverage_counts(*_draw(num_samples, 1.0, seed=num_samples), levels=levels)
    coverage = inside.sum(axis=0) / total.sum()
    np.testing.assert_allclose(coverage, levels, atol=0.02)  # 4,800 joints: binomial std <= 0.008


def test_narrow_spread_under_covers_and_wide_spread_over_covers():
    levels = (0.5, 0.8, 0.9)
    narrow = coverage_counts(*_draw(5, 0.5), levels=levels)
    wide = coverage_counts(*_draw(5, 2.0), levels=levels)
    assert (narrow[0].sum(axis=0) / narrow[1].sum() < np.array(levels) - 0.1).all()
    assert (wide[0].sum(axis=0) / wide[1].sum() > np.array(levels) + 0.05).all()


def test_radius_factor_grows_with_level_and_bad_arguments_are_refused():
    assert spread_radius_factor(0.5, 5) < spread_radius_factor(0.9, 5)
    assert spread_radius_factor(0.9, 20) < spread_radius_factor(0.9, 5)  # fewer samples: a less certain spread
    with pytest.raises(ValueError, match="level"):
        spread_radius_factor(1.0, 5)
    with pytest.raises(ValueError, match="at least 2 samples"):
        energy_score(np.zeros((1, 1, 2, 3)), np.zeros((1, 2, 3)), np.ones((1, 2), bool))
    with pytest.raises(ValueError, match=r"\(B, J, 3\)"):
        coverage_counts(np.zeros((1, 3, 2, 3)), np.zeros((1, 5, 3)), np.ones((1, 5), bool))
