"""Identity over time: coherence of features lags apart, and quality drift between the first and
the last seconds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stream.lab.coherence import lag_coherence, quality_drift, window_mean


def test_a_still_stream_is_coherent_at_every_lag():
    features = np.tile(np.random.default_rng(0).normal(size=16), (60, 1))
    assert lag_coherence(features, (2, 50)) == pytest.approx({2: 1.0, 50: 1.0})


def test_a_wandering_stream_loses_coherence_as_the_lag_grows():
    steps = np.random.default_rng(1).normal(size=(400, 64))
    features = np.cumsum(steps, axis=0)  # a random walk: nearby frames alike, far ones not
    coherence = lag_coherence(features)
    values = [coherence[lag] for lag in (2, 5, 10, 20, 50)]
    assert values == sorted(values, reverse=True)


def test_a_lag_longer_than_the_stream_is_not_a_number():
    assert math.isnan(lag_coherence(np.ones((10, 4)), (50,))[50])


def test_quality_drift_reads_blur_and_a_colour_shift_between_the_first_and_last_seconds():
    seconds = np.arange(1, 241) * 0.25  # 60 s
    sharpness = np.where(seconds > 50, 50.0, 100.0)
    colour = np.where(seconds[:, None] > 50, [110.0, 100.0, 100.0], [100.0, 100.0, 100.0])
    drift = quality_drift(seconds, sharpness, colour, window_s=10.0)
    assert drift["sharpness_ratio"] == pytest.approx(0.5)
    assert drift["colour_shift"] == pytest.approx(10.0)


def test_window_mean_is_nan_past_the_end_of_the_series():
    seconds = np.arange(1, 241) * 0.25
    assert window_mean(seconds, seconds, 60.0, 10.0) == pytest.approx(55.125)
    assert math.isnan(window_mean(seconds, seconds, 600.0, 10.0))
