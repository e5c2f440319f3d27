"""Saturation of rollout error, made explicit.

A prediction that has lost all track of the truth is still a frame of the same kind of video, so
||eps_t|| cannot grow past the distance between two unrelated frames of that video: the ceiling,
measured as the mean latent distance between random pairs of true frames far apart. Near the
ceiling every growth law flattens, so a law fitted across it describes the ceiling, not the
growth. Here each series is read as ||eps_t|| / ceiling, the first frame where it passes a
fraction of the ceiling (default 0.5) is found, and the growth laws are fitted below it only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stream.lab.growth import Fit, fit_exponential, fit_power

DEFAULT_FRACTION = 0.5
MIN_FIT_POINTS = 8  # fewer points than this cannot tell two three-parameter laws apart


def saturation_ceiling(
    latents: np.ndarray, pairs: int = 256, min_gap: int | None = None, seed: int = 0
) -> float:
    """Mean ||z_i - z_j|| over random pairs of true latent frames (T, ...) at least min_gap
    apart (default a quarter of the video), the error of a prediction unrelated to the truth."""
    count = len(latents)
    gap = max(1, count // 4) if min_gap is None else min_gap
    if count <= gap or gap < 1:
        raise ValueError(f"min_gap={gap} needs more than {gap} latent frames; got {count}")
    if pairs < 1:
        raise ValueError(f"pairs={pairs} must be >= 1")
    rng = np.random.default_rng(seed)
    first = rng.integers(0, count - gap, pairs)  # (pairs,)
    second = rng.integers(first + gap, count)  # (pairs,), at least gap later
    flat = latents.reshape(count, -1).astype(np.float64)  # (T, D)
    return float(np.linalg.norm(flat[second] - flat[first], axis=1).mean())


def first_crossing(ratio: np.ndarray, fraction: float = DEFAULT_FRACTION) -> int | None:
    """First index where the series ratio (T,) reaches fraction, or None if it never does."""
    if not fraction > 0:
        raise ValueError(f"fraction={fraction} must be > 0")
    reached = np.nonzero(np.asarray(ratio) >= fraction)[0]
    return int(reached[0]) if len(reached) else None


def fit_below_saturation(
    seconds: np.ndarray, eps: np.ndarray, ceiling: float, fraction: float = DEFAULT_FRACTION
) -> dict[str, Any]:
    """Both growth laws fitted to eps (T,) over seconds (T,) up to the frame before eps first
    reaches fraction * ceiling (at least MIN_FIT_POINTS frames); t counts from one frame before
    the first, so that the power law's t is > 0."""
    if ceiling <= 0:
        raise ValueError(f"ceiling={ceiling} must be > 0")
    crossing = first_crossing(eps / ceiling, fraction)
    end = len(eps) if crossing is None else max(crossing, min(MIN_FIT_POINTS, len(eps)))
    step = seconds[1] - seconds[0]
    t = seconds[:end] - seconds[0] + step  # (end,)
    y = eps[:end]
    fits: dict[str, Fit] = {"exponential": fit_exponential(t, y), "power": fit_power(t, y)}
    winner = max(fits.values(), key=lambda fit: fit.r2)
    return {
        "ceiling": ceiling,
        "saturation_fraction": fraction,
        "saturation_found": crossing is not None,
        "saturation_s": None if crossing is None else float(seconds[crossing]),
        "fit_points": end,
        "fit_until_s": float(seconds[end - 1]),
        "eps_over_ceiling_final": float(eps[-1] / ceiling),
        "lambda_per_s": fits["exponential"].rate,
        "r2_exponential": fits["exponential"].r2,
        "alpha": fits["power"].rate,
        "r2_power": fits["power"].r2,
        "winner": winner.law,
        "fits": {law: fit.__dict__ for law, fit in fits.items()},
        "t_offset_s": float(seconds[0] - step),
    }
