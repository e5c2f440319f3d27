"""The chunk program: one compiled call that denoises, commits and decodes a chunk, equal to the
stages run one by one, and deterministic."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from stream.chunk import session_settings
from stream.pixels import to_unit
from stream.sampler import chunk_noise, flow_origin, time_schedule


def _primed(engine, clip):
    """Cache and decoder after committing the clip's latents, and those latents (1, L, h, w, C)."""
    cache, encoder, decoder = (
        engine.new_cache(),
        engine.new_encoder_state(),
        engine.new_decoder_state(),
    )
    frames = jnp.asarray(to_unit(clip))[None]  # (1, T, S, S, 3)
    latents = []
    for start, stop in [(0, 1)] + [(i, i + 4) for i in range(1, len(clip), 4)]:
        latent, encoder = engine.encode(frames[:, start:stop], encoder)
        cache = engine.commit(cache, latent, 4, True, 7)
        _, decoder = engine.decode(latent, decoder)
        latents.append(latent)
    return cache, decoder, jnp.concatenate(latents, axis=1)


def _blank(engine):
    """No detail to carry: the reference of a rollout without real frames."""
    blank = jnp.zeros((engine.config.image_size, engine.config.image_size, 3), jnp.float32)
    return blank, blank


def _chunk_inputs(engine, cache):
    dit = engine.config.dit
    shape = (1, dit.chunk_frames, dit.latent_size, dit.latent_size, dit.latent_channels)
    return chunk_noise(7, int(cache.length), shape), time_schedule(3, engine.config.sampler.shift)


def test_chunk_program_equals_the_stages_run_one_by_one(tiny_engine, clip):
    engine = tiny_engine
    cache, decoder, latents = _primed(engine, clip)
    noise, schedule = _chunk_inputs(engine, cache)
    last, z0 = latents[:, -1:], latents[0, 0]

    origin = flow_origin(last, engine.config.dit.flow_space)
    x = noise
    stepwise_cache = jax.tree.map(jnp.copy, cache)
    for s, s_next in zip(schedule[:-1], schedule[1:], strict=True):
        x = engine.denoise(stepwise_cache, x, s, s_next, 4, True, z0, 0.5, origin)
    x = origin + x
    for f in range(x.shape[1]):
        stepwise_cache = engine.commit(stepwise_cache, x[:, f : f + 1], 4, True, 7)
    stepwise_pixels, _ = engine.decode_frames(x, decoder)

    settings = session_settings(4, True, 0.5, 7)
    latents_out, pixels, new_cache, _ = engine.chunk(
        jax.tree.map(jnp.copy, cache), decoder, noise, last, schedule, settings, z0, _blank(engine)
    )
    np.testing.assert_allclose(np.asarray(latents_out), np.asarray(x), atol=1e-5)
    assert np.abs(pixels.astype(int) - stepwise_pixels.astype(int)).max() <= 1
    np.testing.assert_allclose(
        np.asarray(new_cache.ring_k), np.asarray(stepwise_cache.ring_k), atol=1e-5
    )
    assert int(new_cache.length) == int(stepwise_cache.length)


def test_chunk_program_gives_the_same_bits_twice(tiny_engine, clip):
    engine = tiny_engine
    cache, decoder, latents = _primed(engine, clip)
    noise, schedule = _chunk_inputs(engine, cache)
    settings = session_settings(4, True, 0.5, 7)
    runs = [
        engine.chunk(
            jax.tree.map(jnp.copy, cache), decoder, noise, latents[:, -1:], schedule, settings,
            latents[0, 0], _blank(engine),
        )
        for _ in range(2)
    ]  # fmt: skip
    np.testing.assert_array_equal(np.asarray(runs[0][0]), np.asarray(runs[1][0]))
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
