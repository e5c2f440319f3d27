"""The cached DiT path is the full-recompute reference, cut into frames."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from stream.config import TINY
from stream.model.layout import history_then_chunk, sequence_segments
from stream.runtime.kv_cache import cached_segments, commit_frame, init_cache

CONFIG = TINY.dit


def _latents(frames: int) -> jax.Array:
    shape = (1, frames, CONFIG.latent_size, CONFIG.latent_size, CONFIG.latent_channels)
    return jax.random.normal(jax.random.key(3), shape)


@functools.partial(nnx.jit, static_argnums=2)
def _cached_chunk(dit, latents, history, window, anchor_on):
    cache = init_cache(CONFIG)
    for t in range(history):
        clean = jnp.zeros((1, 1))
        _, k, v = dit(
            latents[:, t : t + 1], clean, cached_segments(CONFIG, cache, 1, window, anchor_on)
        )
        cache = commit_frame(CONFIG, cache, k, v)
    s = jnp.full((1, latents.shape[1] - history), 0.7)
    chunk = latents[:, history:]
    return dit(chunk, s, cached_segments(CONFIG, cache, chunk.shape[1], window, anchor_on))[
        0
    ], cache


@functools.partial(nnx.jit, static_argnums=2)
def _reference_chunk(dit, latents, history, window, anchor_on):
    s = jnp.concatenate(
        [jnp.zeros((1, history)), jnp.full((1, latents.shape[1] - history), 0.7)], 1
    )
    layout = history_then_chunk(history, latents.shape[1] - history)
    segments = sequence_segments(CONFIG, layout, window, anchor_on)
    return dit(latents, s, segments)[0][:, history:]


@pytest.mark.parametrize("anchor_on", [False, True])
def test_cached_path_equals_full_recompute_while_history_fits_window(tiny_models, anchor_on):
    _, dit = tiny_models
    latents = _latents(3 + CONFIG.chunk_frames)
    cached, _ = _cached_chunk(dit, latents, 3, CONFIG.window_frames, anchor_on)
    reference = _reference_chunk(dit, latents, 3, CONFIG.window_frames, anchor_on)
    np.testing.assert_allclose(cached, reference, atol=2e-5)


def test_cached_path_equals_masked_recompute_after_window_rolls(tiny_models):
    _, dit = tiny_models
    history = CONFIG.window_frames + 3
    latents = _latents(history + CONFIG.chunk_frames)
    cached, _ = _cached_chunk(dit, latents, history, CONFIG.window_frames, True)
    reference = _reference_chunk(dit, latents, history, CONFIG.window_frames, True)
    np.testing.assert_allclose(cached, reference, atol=2e-5)


def test_chunk_never_sees_later_frames(tiny_models):
    _, dit = tiny_models
    latents = _latents(5)
    changed = latents.at[:, 4].add(1.0)
    segments = sequence_segments(CONFIG, history_then_chunk(5, 0), jnp.int32(8), jnp.bool_(True))
    forward = nnx.jit(lambda model, x: model(x, jnp.zeros((1, 5)), segments)[0])
    before, after = forward(dit, latents), forward(dit, changed)
    np.testing.assert_array_equal(before[:, :4], after[:, :4])


def test_attention_anchor_changes_prediction_after_window_rolls(tiny_models):
    _, dit = tiny_models
    history = CONFIG.window_frames + 3
    latents = _latents(history + CONFIG.chunk_frames)
    with_anchor, _ = _cached_chunk(dit, latents, history, CONFIG.window_frames, True)
    without, _ = _cached_chunk(dit, latents, history, CONFIG.window_frames, False)
    assert float(jnp.abs(with_anchor - without).max()) > 1e-4


def test_cache_shape_does_not_grow_with_stream_length(tiny_models):
    _, dit = tiny_models
    history = CONFIG.window_frames + 3
    latents = _latents(history + CONFIG.chunk_frames)
    _, rolled = _cached_chunk(dit, latents, history, CONFIG.window_frames, True)
    assert jax.tree.map(jnp.shape, rolled) == jax.tree.map(jnp.shape, init_cache(CONFIG))
