"""The blend fit: each session's stream mixed with the last real frame and its VAE smoothing by
weights fitted on its own real frames, so whichever of the three predicted them best is streamed."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import pushed_timeline
from stream.config import TINY
from stream.runtime import blend
from stream.runtime.chunk import session_settings


def _frames(seed: int, count: int) -> list[jax.Array]:
    keys = jax.random.split(jax.random.key(seed), count)
    return [jax.random.uniform(k, (4, 8, 8, 3), minval=-1.0, maxval=1.0) for k in keys]


def _weights(streams, smoothed, lasts, truths) -> np.ndarray:
    sums = jnp.zeros((5,))
    for s, m, last, t in zip(streams, smoothed, lasts, truths, strict=True):
        sums = blend.add_test(sums, s, m, last[0], t)
    return np.asarray(blend.fitted_weights(sums))


def test_the_stream_is_kept_as_is_until_a_test_is_made():
    weights = blend.frame_weights(blend.new_blend(8).sums, jnp.int32(1), 16)  # (16, 2)
    np.testing.assert_array_equal(weights, np.tile([1.0, 0.0], (16, 1)))


def test_a_stream_that_came_true_is_kept_whole():
    truths, smoothed, lasts = _frames(0, 3), _frames(1, 3), _frames(2, 3)
    np.testing.assert_allclose(_weights(truths, smoothed, lasts, truths), [1.0, 0.0], atol=1e-5)


def test_a_stream_that_moved_still_footage_gives_way_to_the_last_frame():
    streams, smoothed, lasts = _frames(0, 3), _frames(1, 3), _frames(2, 3)
    still = [jnp.broadcast_to(last[:1], last.shape) for last in lasts]
    np.testing.assert_allclose(_weights(streams, smoothed, lasts, still), [0.0, 0.0], atol=1e-5)


def test_footage_whose_smoothing_came_true_gets_the_smoothing():
    streams, smoothed, lasts = _frames(0, 3), _frames(1, 3), _frames(2, 3)
    np.testing.assert_allclose(_weights(streams, smoothed, lasts, smoothed), [0.0, 1.0], atol=1e-5)


def test_a_mix_of_the_answers_is_fitted_back():
    streams, smoothed, lasts = _frames(0, 3), _frames(1, 3), _frames(2, 3)
    truths = [
        last[:1] + 0.6 * (s - last[:1]) + 0.3 * (m - last[:1])
        for s, m, last in zip(streams, smoothed, lasts, strict=True)
    ]
    np.testing.assert_allclose(_weights(streams, smoothed, lasts, truths), [0.6, 0.3], atol=1e-4)


@pytest.mark.parametrize("seed", range(8))
def test_the_weights_stay_in_the_unit_square_on_any_footage(seed):
    streams, smoothed, lasts, truths = (_frames(seed * 4 + i, 2) for i in range(4))
    truths = [3.0 * t for t in truths]  # truths far outside what the answers span
    weights = _weights(streams, smoothed, lasts, truths)
    assert np.all(weights >= 0.0) and np.all(weights <= 1.0)


def test_the_weights_one_and_zero_keep_the_frames_bits():
    frames, smoothed, last = _frames(0, 1)[0], _frames(1, 1)[0], _frames(2, 1)[0][0]
    mixed = blend.blend(frames, smoothed, last, jnp.tile(jnp.array([1.0, 0.0]), (4, 1)))
    np.testing.assert_array_equal(mixed, frames)


def _two_pushes(near_truth: bool, far_truth: bool) -> blend.Blend:
    """A fit after two pushes whose stream predicted the next group (first horizon) and the group
    after it (second) either exactly or not at all (the truth stood still)."""
    (last,), (smoothed,), (moved,) = _frames(0, 1), _frames(1, 1), _frames(2, 1)
    still = jnp.broadcast_to(last[:1], last.shape)  # (4, S, S, 3)
    state = blend.new_blend(8)
    # Push 1: predictions of group 1 (moved) and group 2 (moved); group 1 is moved or still.
    stream = jnp.concatenate([moved, moved])  # (8, S, S, 3)
    state = blend.tested(
        state, jnp.bool_(True), stream, smoothed, last[0], moved if near_truth else still
    )
    # Push 2: group 2 is tested against the prediction kept from push 1.
    return blend.tested(
        state, jnp.bool_(False), stream, smoothed, last[0], moved if far_truth else still
    )


def test_each_horizon_is_fitted_on_its_own_tests():
    state = _two_pushes(near_truth=True, far_truth=False)
    weights = np.asarray(blend.frame_weights(state.sums, jnp.int32(1), 8))  # (8, 2)
    np.testing.assert_allclose(weights[:4], np.tile([1.0, 0.0], (4, 1)), atol=1e-5)
    np.testing.assert_allclose(weights[4:], np.tile([0.0, 0.0], (4, 1)), atol=1e-5)


def test_frames_beyond_the_second_horizon_get_its_weights():
    state = _two_pushes(near_truth=False, far_truth=True)
    weights = np.asarray(blend.frame_weights(state.sums, jnp.int32(9), 8))  # (8, 2)
    np.testing.assert_allclose(weights, np.tile([1.0, 0.0], (8, 1)), atol=1e-5)


def test_until_the_second_horizon_is_tested_the_first_serves_all_frames():
    (last,), (smoothed,), (moved,) = _frames(0, 1), _frames(1, 1), _frames(2, 1)
    still = jnp.broadcast_to(last[:1], last.shape)  # (4, S, S, 3)
    stream = jnp.concatenate([moved, moved])  # (8, S, S, 3)
    state = blend.tested(blend.new_blend(8), jnp.bool_(True), stream, smoothed, last[0], still)
    weights = np.asarray(blend.frame_weights(state.sums, jnp.int32(1), 16))  # (16, 2)
    np.testing.assert_allclose(weights, np.tile([0.0, 0.0], (16, 1)), atol=1e-5)


def test_a_blended_session_on_frozen_footage_streams_the_last_real_frame(tiny_engine, clip):
    engine = tiny_engine.with_sampler(fit_blend=True, detail_width=0.5)
    config = engine.config
    settings = session_settings(
        config.dit.window_frames, True, 0.0, 0, config.sampler.steps, config.sampler
    )
    frozen = np.repeat(clip[:1], 13, axis=0)  # (13, S, S, 3)
    timeline = pushed_timeline(engine, frozen, settings)
    pixels = np.asarray(engine.generate(timeline, settings)[0].pixels)  # (4F, S, S, 3)
    assert np.abs(pixels.astype(int) - frozen[-1]).max() <= 1


def test_a_blend_fit_on_chunks_of_one_latent_frame_is_refused():
    dit = dataclasses.replace(TINY.dit, chunk_frames=1)
    sampler = dataclasses.replace(TINY.sampler, fit_blend=True)
    with pytest.raises(ValueError, match="chunk_frames"):
        dataclasses.replace(TINY, dit=dit, sampler=sampler)
