"""The linear theory of drift on linear systems, where it is exact."""

from __future__ import annotations

import numpy as np
import pytest

from stream.lab.theory import deviation, linear_theory


def _system(seed: int = 0) -> np.ndarray:
    """A non-normal 12 x 12 map with spectral radius 0.95."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(12, 12))
    return 0.95 * a / np.abs(np.linalg.eigvals(a)).max()


def _measured(a: np.ndarray, sigma: float, steps: int, runs: int, seed: int) -> np.ndarray:
    """||eps_t|| of `runs` simulated rollouts eps_t = A eps_{t-1} + xi_t: (steps, runs)."""
    rng = np.random.default_rng(seed)
    errors = np.zeros((runs, len(a)))
    norms = []
    for _ in range(steps):
        errors = errors @ a.T + sigma * rng.normal(size=errors.shape)
        norms.append(np.linalg.norm(errors, axis=1))
    return np.array(norms)


def test_prediction_equals_measurement_within_sampling_error_on_a_linear_system():
    a, sigma, steps, runs = _system(), 0.1, 40, 1500
    measured = _measured(a, sigma, steps, runs, seed=1)  # (steps, runs)
    xi = sigma * np.random.default_rng(2).normal(size=(3000, 12))  # measured one-step errors
    prediction = linear_theory(lambda t, e: e @ a.T, xi, steps, samples=1500, seed=3)
    stderr = np.hypot(prediction.stderr[:, 0], measured.std(axis=1) / np.sqrt(runs))
    z = (prediction.mean[:, 0] - measured.mean(axis=1)) / stderr
    assert np.abs(z).max() < 4.5


def test_prediction_follows_a_jacobian_that_changes_along_the_trajectory():
    rng = np.random.default_rng(4)
    maps = [np.eye(6) * g for g in np.linspace(1.1, 0.8, 30)]  # expanding, then contracting
    xi = 0.1 * rng.normal(size=(4000, 6))
    prediction = linear_theory(lambda t, e: e @ maps[t].T, xi, 30, samples=4000, seed=5)
    variance = np.zeros(30)  # E||eps_t||^2 = g_t^2 E||eps_{t-1}||^2 + 6 sigma^2
    for t in range(30):
        variance[t] = (maps[t][0, 0] ** 2 * variance[t - 1] if t else 0.0) + 6 * 0.01
    # The mean norm of a 6-dimensional Gaussian is 0.96 of its RMS.
    np.testing.assert_allclose(prediction.mean[:, 0], np.sqrt(variance), rtol=0.08)


def test_readout_reads_each_part_of_the_error():
    xi = np.ones((5, 2, 3))
    prediction = linear_theory(
        lambda t, e: 0 * e, xi, 3, samples=2, readout=lambda e: np.abs(e).sum(axis=2)
    )
    np.testing.assert_allclose(prediction.mean, np.full((3, 2), 3.0))


def test_deviation_is_relative_to_the_measured_mean_and_reads_the_final_ratio():
    result = deviation(np.array([1.0, 3.0]), np.array([2.0, 2.0]))
    assert result == {"relative_deviation": 0.5, "ratio_final": 1.5}


def test_too_few_samples_are_refused_by_name():
    with pytest.raises(ValueError, match="samples"):
        linear_theory(lambda t, e: e, np.ones((3, 2)), 4, samples=1)
