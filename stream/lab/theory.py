"""The linear theory of drift against measurement (DESIGN.md 2.1).

Linearised around the true trajectory, the rollout's error obeys eps_t = J_t eps_{t-1} + xi_t,
with J_t the one-chunk map's Jacobian at the true window and xi_t the error of one chunk predicted
from the true context. Fed with J_t (by jvp) and the measured xi, the recursion predicts
||eps_t||; where it meets the measured curve the linear picture explains the drift, where it
parts from it the nonlinearity (or saturation) does. The noise is resampled from the measured
xi (a bootstrap: their mean, covariance and outliers, with no Gaussian assumption), and the
prediction is the mean over samples, with its standard error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np


def _norm(errors: np.ndarray) -> np.ndarray:
    return np.linalg.norm(errors.reshape(len(errors), -1), axis=1)[:, None]  # (M, 1)


@dataclasses.dataclass(frozen=True)
class Prediction:
    mean: np.ndarray  # (steps, K) mean over samples of the readout of eps_t
    stderr: np.ndarray  # (steps, K) its standard error


def linear_theory(
    apply_jacobian: Callable[[int, np.ndarray], np.ndarray],
    xi: np.ndarray,
    steps: int,
    samples: int = 8,
    seed: int = 0,
    readout: Callable[[np.ndarray], np.ndarray] = _norm,
) -> Prediction:
    """Run eps_t = J_t eps_{t-1} + xi_t from eps_{-1} = 0 for `samples` noise draws at once.

    apply_jacobian(t, E) applies J_t to each of the samples' errors E (M, *shape); xi (N, *shape)
    are measured one-step errors, resampled with replacement; readout maps errors (M, *shape) to
    the measured quantities (M, K), by default the norm (K = 1).
    """
    if samples < 2:
        raise ValueError(f"samples={samples} must be >= 2 (a standard error needs two)")
    if steps < 1 or len(xi) == 0:
        raise ValueError(f"steps={steps} and len(xi)={len(xi)} must be >= 1")
    rng = np.random.default_rng(seed)
    errors = np.zeros((samples, *xi.shape[1:]))  # (M, *shape)
    readings = []
    for t in range(steps):
        moved = errors if t == 0 else np.asarray(apply_jacobian(t, errors), np.float64)
        errors = moved + xi[rng.integers(0, len(xi), samples)]  # (M, *shape)
        readings.append(readout(errors))  # (M, K)
    stacked = np.stack(readings)  # (steps, M, K)
    return Prediction(stacked.mean(axis=1), stacked.std(axis=1, ddof=1) / np.sqrt(samples))


def deviation(predicted: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    """How far the theory is from the measurement, over series of one length: the mean absolute
    difference relative to the measured mean, and the ratio at the last point."""
    predicted, measured = np.asarray(predicted, np.float64), np.asarray(measured, np.float64)
    if predicted.shape != measured.shape or measured.size == 0:
        raise ValueError(f"predicted {predicted.shape} and measured {measured.shape} must match")
    return {
        "relative_deviation": float(np.abs(predicted - measured).mean() / measured.mean()),
        "ratio_final": float(predicted[-1] / measured[-1]),
    }
