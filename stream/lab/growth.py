"""Growth laws of rollout error: exponential a e^(lambda t) + b against power c t^alpha + d.

Both laws are linear in their amplitude and offset once the rate (lambda or alpha) is fixed, so
each fit scans the rate on a grid, solves the two linear parameters by least squares, and refines
the grid around the best rate. No optimiser to tune, and the same answer every time.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Fit:
    law: str  # "exponential" or "power"
    rate: float  # lambda (per second) or alpha
    amplitude: float  # a or c
    offset: float  # b or d
    r2: float

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, np.float64)
        basis = np.exp(self.rate * t) if self.law == "exponential" else t**self.rate
        return self.amplitude * basis + self.offset


def _linear_fit(basis: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    design = np.stack([basis, np.ones_like(basis)], axis=1)  # (n, 2)
    (amplitude, offset), *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ np.array([amplitude, offset])
    total = ((y - y.mean()) ** 2).sum()
    r2 = 1.0 - (residual**2).sum() / total if total > 0 else 0.0
    return float(amplitude), float(offset), float(r2)


def _scan(law: str, t: np.ndarray, y: np.ndarray, rates: np.ndarray) -> Fit:
    best = None
    low, high = rates[0], rates[-1]
    for _ in range(3):  # coarse grid, then two refinements around the best rate
        for rate in rates:
            with np.errstate(over="ignore", invalid="ignore"):
                basis = np.exp(rate * t) if law == "exponential" else t**rate
            if not np.all(np.isfinite(basis)) or np.ptp(basis) == 0:
                continue
            amplitude, offset, r2 = _linear_fit(basis, y)
            if best is None or r2 > best.r2:
                best = Fit(law, float(rate), amplitude, offset, r2)
        if best is None:
            break
        step = rates[1] - rates[0]
        rates = np.linspace(max(best.rate - step, low), min(best.rate + step, high), 41)
    if best is None:
        raise ValueError(f"no {law} law fits: the series is constant or too short")
    return best


def fit_exponential(t: np.ndarray, y: np.ndarray) -> Fit:
    """y ~ a e^(lambda t) + b; lambda scanned over rates that change y by at most e^12 over t."""
    t, y = np.asarray(t, np.float64), np.asarray(y, np.float64)
    limit = 12.0 / max(float(t.max() - t.min()), 1e-9)
    return _scan("exponential", t, y, np.linspace(-limit, limit, 241))


def fit_power(t: np.ndarray, y: np.ndarray) -> Fit:
    """y ~ c t^alpha + d for t > 0; alpha scanned over [0.02, 4]."""
    t, y = np.asarray(t, np.float64), np.asarray(y, np.float64)
    if np.any(t <= 0):
        raise ValueError("fit_power needs t > 0")
    return _scan("power", t, y, np.linspace(0.02, 4.0, 200))


def saturation_index(y: np.ndarray, tolerance: float = 0.05) -> int | None:
    """First index where the smoothed series reaches its final plateau, or None if it is still
    growing at the end (its last eighth is more than `tolerance` above the eighth before)."""
    y = np.asarray(y, np.float64)
    n = len(y)
    if n < 16:
        return None
    width = max(1, n // 20)
    smooth = np.convolve(y, np.ones(width) / width, mode="valid")
    eighth = max(1, len(smooth) // 8)
    last, before = smooth[-eighth:].mean(), smooth[-2 * eighth : -eighth].mean()
    if last <= 0 or (last - before) / last > tolerance:
        return None
    reached = np.nonzero(smooth >= (1.0 - tolerance) * last)[0]
    return int(reached[0]) + width // 2 if len(reached) else None
