"""Saturation made explicit: the ceiling of ||eps_t||, where a series passes a fraction of it, and
growth laws fitted below that point only."""

from __future__ import annotations

import numpy as np
import pytest

from stream.lab.growth import fit_power
from stream.lab.saturation import first_crossing, fit_below_saturation, saturation_ceiling


def _knee_series(knee_s: float = 20.0) -> tuple[np.ndarray, np.ndarray, float]:
    """sqrt growth that bends into a plateau at knee_s: (seconds, eps, ceiling)."""
    seconds = np.arange(1, 2001) * 0.05  # (2000,) 100 s
    ceiling = 2.0 * np.sqrt(knee_s)
    eps = ceiling * np.tanh(np.sqrt(seconds / knee_s))  # ~ 2 sqrt(t) well before the knee
    return seconds, eps, ceiling


def test_ceiling_of_unrelated_gaussian_frames_is_their_expected_distance():
    rng = np.random.default_rng(0)
    latents = rng.normal(size=(400, 8, 8, 4))  # independent frames, variance 1 per element
    ceiling = saturation_ceiling(latents, pairs=2000)
    assert ceiling == pytest.approx(np.sqrt(2 * 8 * 8 * 4), rel=0.02)


def test_ceiling_pairs_are_at_least_the_gap_apart():
    latents = np.arange(100.0)[:, None]  # frame i is the number i: distance = |i - j|
    assert saturation_ceiling(latents, pairs=500, min_gap=40) >= 40


def test_the_crossing_of_a_series_with_a_known_knee_is_where_it_passes_the_fraction():
    seconds, eps, ceiling = _knee_series()
    index = first_crossing(eps / ceiling, 0.5)
    expected = np.arctanh(0.5) ** 2 * 20.0  # seconds at which tanh(sqrt(t / 20)) = 0.5
    assert seconds[index - 1] < expected <= seconds[index]
    assert first_crossing(eps / ceiling, 1.01) is None


def test_fitting_below_saturation_recovers_the_growth_law_that_the_whole_range_hides():
    seconds, eps, ceiling = _knee_series()
    below = fit_below_saturation(seconds, eps, ceiling, fraction=0.3)
    whole = fit_power(seconds, eps)
    assert below["saturation_found"] and below["saturation_fraction"] == 0.3
    assert below["fit_until_s"] < 1.95  # tanh(sqrt(t / 20)) = 0.3 at t = 1.92 s
    assert below["alpha"] == pytest.approx(0.5, abs=0.08)
    assert abs(whole.rate - 0.5) > 0.15


def test_a_series_that_never_saturates_is_fitted_whole():
    seconds = np.arange(1, 101) * 0.25
    fit = fit_below_saturation(seconds, np.sqrt(seconds), ceiling=100.0)
    assert not fit["saturation_found"] and fit["fit_points"] == 100


def test_bad_fraction_is_refused_by_name():
    with pytest.raises(ValueError, match="fraction"):
        first_crossing(np.ones(4), 0.0)
