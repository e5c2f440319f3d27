"""The Benettin estimator of the top Lyapunov exponents against numpy on small dense maps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stream.lab.lyapunov import lyapunov_spectrum, predictable_horizon


def _matrix_with_eigenvalues(eigenvalues: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(len(eigenvalues), len(eigenvalues)))
    return basis @ np.diag(eigenvalues) @ np.linalg.inv(basis)


def test_exponents_of_a_constant_map_are_the_logs_of_its_eigenvalue_moduli():
    eigenvalues = np.array([1.5, -1.2, 0.9, 0.7, -0.5, 0.3, 0.2, 0.1, 0.05, 0.02])
    matrix = _matrix_with_eigenvalues(eigenvalues, seed=3)
    result = lyapunov_spectrum(lambda t, q: q @ matrix.T, (10,), k=4, steps=400)
    expected = np.sort(np.log(np.abs(np.linalg.eigvals(matrix))))[::-1][:4]
    np.testing.assert_allclose(result.exponents, expected, atol=0.02)


def test_exponents_of_a_symmetric_map_are_the_logs_of_its_singular_values():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(8, 8))
    matrix = (a + a.T) / 4
    result = lyapunov_spectrum(lambda t, q: q @ matrix.T, (8,), k=3, steps=400)
    expected = np.log(np.linalg.svd(matrix, compute_uv=False))[:3]
    np.testing.assert_allclose(result.exponents, expected, atol=0.03)


def test_the_full_spectrum_of_any_product_sums_to_the_log_of_its_determinant():
    rng = np.random.default_rng(5)
    maps = rng.normal(size=(30, 6, 6))  # a different map every step, as along a trajectory
    result = lyapunov_spectrum(lambda t, q: q @ maps[t].T, (6,), k=6, steps=30)
    log_det = sum(np.linalg.slogdet(m)[1] for m in maps) / 30
    assert result.exponents.sum() == pytest.approx(log_det, rel=1e-9)


def test_vectors_keep_the_states_shape_through_the_jacobian():
    matrix = np.diag(np.linspace(2.0, 0.5, 12))
    shapes = []

    def apply(t, q):
        shapes.append(q.shape)
        return (q.reshape(len(q), -1) @ matrix.T).reshape(q.shape)

    lyapunov_spectrum(apply, (3, 2, 2), k=2, steps=3)
    assert shapes == [(2, 3, 2, 2)] * 3


def test_predictable_horizon_is_the_time_to_grow_from_one_steps_error_to_the_ceiling():
    assert predictable_horizon(0.5, 1.0, math.e**2) == pytest.approx(4.0)
    assert predictable_horizon(-0.1, 1.0, 10.0) == math.inf


def test_more_exponents_than_dimensions_are_refused_by_name():
    with pytest.raises(ValueError, match="k=5"):
        lyapunov_spectrum(lambda t, q: q, (4,), k=5, steps=1)
