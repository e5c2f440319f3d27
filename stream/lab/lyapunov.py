"""The top Lyapunov exponents of a rollout, by QR iteration on Jacobian-vector products (Benettin).

rho(J) of one step says how the most-amplified direction grows at one point; the Lyapunov spectrum
says how k directions grow on average along the trajectory: carry k orthonormal vectors Q through
every step's Jacobian, re-orthonormalise by QR (V = J_t Q = Q' R), and average log |R_ii|. The
i-th average is the i-th exponent, per step. Positive exponents count the expanding directions;
the largest sets the predictable horizon, the time an error of one step's size needs to grow to
the saturation ceiling.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class Lyapunov:
    exponents: np.ndarray  # (k,) per step, largest first
    log_growth: np.ndarray  # (steps, k): log |R_ii| of every step

    @property
    def stderr(self) -> np.ndarray:
        """(k,) standard error of each exponent over the steps, taken as independent."""
        steps = len(self.log_growth)
        return self.log_growth.std(axis=0) / math.sqrt(max(steps - 1, 1))


def lyapunov_spectrum(
    apply_jacobian: Callable[[int, np.ndarray], np.ndarray],
    shape: tuple[int, ...],
    k: int,
    steps: int,
    seed: int = 0,
) -> Lyapunov:
    """Exponents of the product J_steps ... J_1, where apply_jacobian(t, Q) returns J_t applied
    to each of the k vectors Q (k, *shape), t = 0 .. steps - 1."""
    dimension = math.prod(shape)
    if not 1 <= k <= dimension:
        raise ValueError(f"k={k} must be in 1..{dimension} (the state's dimension)")
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1")
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(dimension, k)))  # (d, k) orthonormal columns
    logs = np.zeros((steps, k))
    for t in range(steps):
        moved = np.asarray(apply_jacobian(t, q.T.reshape(k, *shape)), np.float64)  # (k, *shape)
        q, r = np.linalg.qr(moved.reshape(k, dimension).T)  # (d, k), (k, k)
        logs[t] = np.log(np.maximum(np.abs(np.diag(r)), np.finfo(np.float64).tiny))
    # QR keeps the columns' order, not their growth's; over many steps the order settles, so the
    # averages come out sorted but for noise: sort them to read the spectrum top down.
    order = np.argsort(-logs.mean(axis=0))
    return Lyapunov(logs.mean(axis=0)[order], logs[:, order])


def predictable_horizon(top_exponent: float, initial_error: float, ceiling: float) -> float:
    """Time for an error of initial_error to grow to the ceiling at e^(top_exponent t), in the
    exponent's time unit; inf when nothing expands (top_exponent <= 0)."""
    if not initial_error > 0:
        raise ValueError(f"initial_error={initial_error} must be > 0")
    if top_exponent <= 0:
        return math.inf
    return max(0.0, math.log(ceiling / initial_error)) / top_exponent
