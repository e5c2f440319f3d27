"""Identity over time: does a long stream stay itself?

- Long-horizon coherence: the mean cosine similarity of frame features (stream.metrics'
  TCS features: area-downsampled frames minus their mean colour) of frames lag latent frames
  apart, for lags from 2 to 50 latent frames. TCS (lag 1) cannot tell a stable stream from a
  slow drift; the similarity at long lags falls as the content wanders. Read next to the truth's
  own (a moving world changes too), and next to motion: a frozen stream scores 1 at every lag.
- Quality drift: sharpness and mean colour of the first window of seconds against the last.
"""

from __future__ import annotations

import numpy as np

DEFAULT_LAGS: tuple[int, ...] = (2, 5, 10, 20, 50)


def lag_coherence(features: np.ndarray, lags: tuple[int, ...] = DEFAULT_LAGS) -> dict[int, float]:
    """Mean over t of cos(f_t, f_{t+lag}) for features (T, D), per lag; nan where T <= lag."""
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-9)  # (T, D)
    result = {}
    for lag in lags:
        if lag < 1:
            raise ValueError(f"lags={lags}: every lag must be >= 1")
        pairs = (unit[lag:] * unit[:-lag]).sum(axis=1) if len(unit) > lag else np.array([])
        result[lag] = float(pairs.mean()) if len(pairs) else float("nan")
    return result


def window_mean(seconds: np.ndarray, values: np.ndarray, end_s: float, window_s: float) -> float:
    """Mean of values (T, ...) over the frames with end_s - window_s < seconds <= end_s, along
    axis 0 (nan when no frame falls there, or when the series stops before end_s)."""
    if seconds[-1] < end_s:
        return float("nan")
    inside = (seconds > end_s - window_s) & (seconds <= end_s)
    return float(np.mean(values[inside])) if inside.any() else float("nan")


def quality_drift(
    seconds: np.ndarray, sharpness: np.ndarray, colour: np.ndarray, window_s: float = 10.0
) -> dict[str, float]:
    """Sharpness (T,) and mean colour (T, 3) of the first window_s seconds against the last:
    their sharpness ratio (last / first: < 1 is blurring) and the colour shift (the distance
    between the two windows' mean colours, in the colour's units)."""
    first = seconds <= seconds[0] + window_s
    last = seconds > seconds[-1] - window_s
    sharp_first, sharp_last = float(sharpness[first].mean()), float(sharpness[last].mean())
    shift = np.linalg.norm(colour[last].mean(axis=0) - colour[first].mean(axis=0))
    return {
        "sharpness_first": sharp_first,
        "sharpness_last": sharp_last,
        "sharpness_ratio": sharp_last / sharp_first if sharp_first > 0 else float("nan"),
        "colour_shift": float(shift),
    }
