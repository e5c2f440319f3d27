"""The drift lab's instruments: the power-iteration estimator, the growth-law fits, and a short
end-to-end experiment on the tiny engine with every measurement."""

from __future__ import annotations

import csv
import json

import jax.numpy as jnp
import numpy as np
import pytest

from stream.lab.drift import DriftSettings
from stream.lab.drift_run import format_summary, run_drift
from stream.lab.growth import fit_exponential, fit_power, saturation_index
from stream.lab.jacobian import spectral_radius

pytestmark = pytest.mark.slow  # the edit-test loop leaves it out (README, Tests)


def _matrix_with_eigenvalues(eigenvalues: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(len(eigenvalues), len(eigenvalues)))
    return basis @ np.diag(eigenvalues) @ np.linalg.inv(basis)


@pytest.mark.parametrize("top", [1.3, 0.7, -1.1])
def test_power_iteration_matches_numpy_on_a_linear_map(top):
    matrix = _matrix_with_eigenvalues(np.array([top, 0.5, -0.3, 0.2, 0.1, 0.05]), seed=1)
    a = jnp.asarray(matrix, jnp.float32)
    estimate = spectral_radius(lambda x: a @ x, jnp.ones(6), max_iterations=200, tolerance=1e-4)
    expected = np.abs(np.linalg.eigvals(matrix)).max()
    assert estimate.rho == pytest.approx(expected, rel=0.02)


def test_power_iteration_stops_once_the_estimate_settles_and_says_so():
    matrix = _matrix_with_eigenvalues(np.array([1.3, 0.2, -0.1, 0.05]), seed=2)
    a = jnp.asarray(matrix, jnp.float32)
    estimate = spectral_radius(lambda x: a @ x, jnp.ones(4), max_iterations=100, tolerance=0.01)
    assert estimate.converged and estimate.iterations < 100
    assert estimate.rho == pytest.approx(1.3, rel=0.02)


def test_power_iteration_reads_the_jacobian_of_a_nonlinear_map_at_its_point():
    rng = np.random.default_rng(2)
    a = jnp.asarray(rng.normal(size=(8, 8)) / 2, jnp.float32)
    x0 = jnp.asarray(rng.normal(size=8), jnp.float32)

    def fn(x):
        return jnp.tanh(a @ x)

    jacobian = np.diag(1 - np.tanh(np.asarray(a @ x0)) ** 2) @ np.asarray(a)
    estimate = spectral_radius(fn, x0, max_iterations=200, tolerance=1e-5)
    assert estimate.rho == pytest.approx(np.abs(np.linalg.eigvals(jacobian)).max(), rel=0.05)


def test_exponential_fit_recovers_the_rate_and_wins_on_exponential_data():
    t = np.linspace(0.1, 10, 200)
    y = 0.5 * np.exp(0.3 * t) + 2.0
    exponential, power = fit_exponential(t, y), fit_power(t, y)
    assert exponential.rate == pytest.approx(0.3, rel=0.01)
    assert exponential.r2 > power.r2


def test_power_fit_recovers_square_root_growth_and_wins_on_it():
    t = np.linspace(0.1, 100, 300)
    y = 1.7 * np.sqrt(t) + 0.2
    exponential, power = fit_exponential(t, y), fit_power(t, y)
    assert power.rate == pytest.approx(0.5, abs=0.01)
    assert power.r2 > exponential.r2


def test_saturation_is_found_on_a_plateau_and_not_on_steady_growth():
    t = np.arange(400.0)
    assert saturation_index(np.sqrt(t)) is None
    index = saturation_index(np.minimum(t, 100.0))
    assert index is not None and 80 <= index <= 120


def test_drift_experiment_writes_every_series_the_summary_and_the_figure(tiny_engine, tmp_path):
    settings = DriftSettings(
        minutes=0.1,
        seeds=(0,),
        modes=("none", "both"),
        jacobian_every=4,
        power_iterations=8,
        twin_chunks=4,
        lyapunov_k=2,
        lyapunov_chunks=3,
        theory_chunks=3,
        theory_samples=2,
        coherence_lags=(2, 5),
        quality_window_s=1.0,
        sweep_lambdas=(0.0, 10.0),
        sweep_minutes=0.05,
        sweep_seed=5,
    )
    summary = run_drift(tiny_engine, settings, tmp_path)
    names = ("series", "rho", "twin", "force", "lyapunov", "theory", "coherence", "sweep")
    for name in [f"{n}.csv" for n in names] + ["sweep_series.csv", "summary.json", "drift.png"]:
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "summary.json").read_text())["modes"].keys() == {"none", "both"}
    for stats in summary["modes"].values():
        assert stats["winner"] in ("exponential", "power")
        assert np.isfinite(stats["rho_mean"]) and stats["rho_mean"] > 0
        assert 0 <= stats["r2_power"] <= 1 and stats["ceiling"] > 0
        assert len(stats["lyapunov"]["exponents_per_s"]) == 2
        assert np.isfinite(stats["theory"]["relative_deviation"])
        assert set(stats["coherence"]["pred"]) == {"2", "5"}
    sweep = {(row["penalty"], row["lambda"]) for row in summary["sweep"]}
    assert sweep == {("stats", 0.0), ("stats", 10.0), ("lowfreq", 0.0), ("lowfreq", 10.0)}
    with open(tmp_path / "sweep_series.csv") as rows:
        assert {row["seed"] for row in csv.DictReader(rows)} == {"5"}, "the sweep's own world"
    assert "penalty" in format_summary(summary)
