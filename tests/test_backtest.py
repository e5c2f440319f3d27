"""The change scale fitted on a session's own real frames: the share of the model's predicted
change that came true, 0 where its changes were noise, 1 where they were right."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import pushed_timeline
from stream.lab.ablation import with_sampler
from stream.runtime import backtest
from stream.runtime.chunk import session_settings


def _latents(seed: int, count: int) -> list[jax.Array]:
    keys = jax.random.split(jax.random.key(seed), count)
    return [jax.random.normal(k, (4, 4, 2)) for k in keys]


def _fit(predicted, previous, actual) -> float:
    sums = backtest.new_sums()
    for p, b, a in zip(predicted, previous, actual, strict=True):
        sums = backtest.add_test(sums, p, b, a)
    return float(backtest.fitted_scale(sums, jnp.float32(0.5)))


def test_a_model_whose_changes_came_true_keeps_them_whole():
    previous, actual = _latents(0, 3), _latents(1, 3)
    assert _fit(actual, previous, actual) == 1.0


def test_a_model_that_invents_change_on_still_footage_is_scaled_to_zero():
    previous, invented = _latents(0, 3), _latents(1, 3)
    assert _fit(invented, previous, previous) == 0.0


def test_a_model_that_predicts_half_the_true_change_is_never_scaled_up():
    previous, actual = _latents(0, 3), _latents(1, 3)
    halfway = [b + 0.5 * (a - b) for b, a in zip(previous, actual, strict=True)]
    assert _fit(halfway, previous, actual) == 1.0


def test_twice_the_true_change_fits_one_half():
    previous, actual = _latents(0, 3), _latents(1, 3)
    doubled = [b + 2.0 * (a - b) for b, a in zip(previous, actual, strict=True)]
    np.testing.assert_allclose(_fit(doubled, previous, actual), 0.5, rtol=1e-5)


def test_the_fixed_scale_serves_until_a_test_is_made():
    assert float(backtest.fitted_scale(backtest.new_sums(), jnp.float32(0.5))) == 0.5


def test_after_a_cut_the_fit_follows_the_new_footage():
    previous, actual = _latents(0, 12), _latents(1, 12)
    # Six latent frames where the model was right, then six of still footage it moved on.
    truth = actual[:6] + previous[6:]
    assert _fit(actual, previous, truth) < 0.25


@pytest.fixture(scope="module")
def fitted(tiny_engine):
    """The tiny engine fitting its change scale, with detail carry-over: one compile for all."""
    return with_sampler(tiny_engine, fit_change_scale=True, detail_width=0.5)


def _pushed(engine, frames: np.ndarray):
    """The timeline after pushing frames (1 + 4k, S, S, 3), and the settings of its session."""
    config = engine.config
    settings = session_settings(
        config.dit.window_frames, True, 0.0, 0, config.sampler.steps, config.sampler
    )
    return pushed_timeline(engine, frames, settings), settings


def test_a_fitted_session_repeats_the_last_latent_frame_when_its_latents_stood_still(fitted, clip):
    timeline, settings = _pushed(fitted, clip[:5])
    for _ in range(3):
        timeline = fitted.commit_latent(timeline, timeline.last_latent, settings)
    latents = fitted.generate(timeline, settings)[0].latents  # (1, F, h, w, C)
    np.testing.assert_array_equal(latents, jnp.broadcast_to(timeline.last_latent, latents.shape))


def test_a_fitted_session_scales_the_models_change_by_the_fit(fitted, clip):
    timeline, settings = _pushed(fitted, clip)
    whole = timeline._replace(scale_fit=jnp.array([1.0, 1.0], jnp.float32))  # a fit of 1
    raw = fitted.generate(whole, settings)[0].latents  # (1, F, h, w, C)
    timeline = timeline._replace(scale_fit=jnp.array([0.3, 1.0], jnp.float32))  # a fit of 0.3
    latents = fitted.generate(timeline, settings)[0].latents  # (1, F, h, w, C)
    last = timeline.last_latent  # (1, 1, h, w, C)
    np.testing.assert_allclose(latents, last + 0.3 * (raw - last), atol=1e-5)


def test_a_session_fitted_to_no_change_streams_the_last_real_frame(fitted, clip):
    timeline, settings = _pushed(fitted, clip)
    timeline = timeline._replace(scale_fit=jnp.array([0.0, 1.0], jnp.float32))  # a fit of 0
    pixels = np.asarray(fitted.generate(timeline, settings)[0].pixels)  # (4F, S, S, 3)
    # The first latent frame's 4 frames: later ones repeat them only once the decoder has settled
    # into its rhythm, which a trained decoder has and this untrained one has not.
    first = pixels[:4].astype(int)  # (4, S, S, 3)
    assert np.abs(first - clip[-1]).max() <= 1
