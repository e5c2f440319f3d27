"""The chunk program: one compiled call that denoises, commits and decodes a chunk, equal to the
stages run one by one, and deterministic."""

from __future__ import annotations

import jax
import numpy as np

from conftest import pushed_timeline
from stream.lab.ablation import with_sampler
from stream.lab.stages import Stages
from stream.runtime.chunk import session_settings
from stream.runtime.sampler import chunk_noise, flow_origin


def _settings(engine, seed=7, window=4, anchor_on=True, guidance=0.5, steps=3):
    return session_settings(window, anchor_on, guidance, seed, steps, engine.config.sampler)


def test_chunk_program_equals_the_stages_run_one_by_one(tiny_engine, clip):
    engine, stages = tiny_engine, Stages(tiny_engine)
    settings = _settings(engine)
    timeline = pushed_timeline(engine, clip, settings)
    dit = engine.config.dit
    shape = (1, dit.chunk_frames, dit.latent_size, dit.latent_size, dit.latent_channels)
    x = chunk_noise(7, int(timeline.cache.length), shape)
    origin = flow_origin(timeline.last_latent, dit.flow_space)
    schedule = np.asarray(settings.schedule)
    cache = timeline.cache
    for s, s_next in zip(schedule[:3], schedule[1:4], strict=True):
        x = stages.denoise(cache, x, s, s_next, 4, True, timeline.z0, 0.5, origin)
    x = origin + x
    for f in range(x.shape[1]):
        cache = stages.commit(cache, x[:, f : f + 1], 4, True, 7)
    stepwise_pixels, _ = stages.decode_frames(x, timeline.decoder)

    chunk, after = engine.generate(timeline, settings)
    np.testing.assert_allclose(np.asarray(chunk.latents), np.asarray(x), atol=1e-5)
    assert np.abs(np.asarray(chunk.pixels).astype(int) - stepwise_pixels.astype(int)).max() <= 1
    np.testing.assert_allclose(np.asarray(after.cache.ring_k), np.asarray(cache.ring_k), atol=1e-5)
    assert int(after.cache.length) == int(cache.length)


def test_chunk_program_gives_the_same_bits_twice(tiny_engine, clip):
    settings = _settings(tiny_engine)
    timeline = pushed_timeline(tiny_engine, clip, settings)
    runs = [tiny_engine.generate(timeline, settings) for _ in range(2)]
    for a, b in zip(jax.tree.leaves(runs[0]), jax.tree.leaves(runs[1]), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _ramped(engine, chunks: int):
    """The engine with the guidance ramp rising over `chunks` (same weights)."""
    return with_sampler(engine, guidance_ramp_chunks=chunks)


def test_the_first_chunk_after_real_frames_gets_its_share_of_the_guidance_ramp(tiny_engine, clip):
    ramped = _ramped(tiny_engine, 4)
    timeline = pushed_timeline(ramped, clip, _settings(ramped, guidance=8.0))
    chunk, _ = ramped.generate(timeline, _settings(ramped, guidance=8.0))
    quarter, _ = tiny_engine.generate(timeline, _settings(tiny_engine, guidance=2.0))
    full, _ = tiny_engine.generate(timeline, _settings(tiny_engine, guidance=8.0))
    np.testing.assert_allclose(np.asarray(chunk.latents), np.asarray(quarter.latents), atol=1e-6)
    assert not np.allclose(np.asarray(chunk.latents), np.asarray(full.latents), atol=1e-4)


def test_the_guidance_ramp_counts_generated_chunks_and_a_push_restarts_it(tiny_engine, clip):
    ramped = _ramped(tiny_engine, 4)
    settings = _settings(ramped, guidance=8.0)
    timeline = pushed_timeline(ramped, clip[:13], settings)
    for count in (1, 2):
        _, timeline = ramped.generate(timeline, settings)
        assert int(timeline.generated) == count
    encoder = ramped.new_encoder_state()
    _, _, timeline = ramped.push(encoder, timeline, clip[None, 13:17], settings)
    assert int(timeline.generated) == 0
