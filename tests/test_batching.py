"""Many sessions in one compiled call: each session's frames are its own whatever slot it lands in
and whoever shares its tick, and sessions join and leave between ticks.

Its own up to rounding, not bit for bit: XLA's CPU matmuls may sum a row in another order at
another position of the batch. On an AMD EPYC without AVX-512 a tick's chunk differed from the
same session's in another slot in 1 of 24,576 pixel values by one level and in 1,612 of 2,048
latent values by up to 7e-7; the bounds below hold that with a margin. The same sessions in the
same slots get the same bits on any machine."""

from __future__ import annotations

import threading

import jax
import numpy as np
import pytest
from flax import nnx

from conftest import pushed_timeline
from stream.config import TINY
from stream.runtime.chunk import session_settings
from stream.runtime.engine import Engine
from stream.runtime.timeline import generate

SLOTS = 4


@pytest.fixture(scope="module")
def engine(tiny_models) -> Engine:
    return Engine(TINY, *tiny_models, info={"name": "tiny-batched"}, slots=SLOTS)


def _pushed(engine, clip, seed, window, anchor_on, guidance, steps):
    """(timeline, settings) of a session that has seen the clip, with the given choices."""
    settings = session_settings(window, anchor_on, guidance, seed, steps, TINY.sampler)
    return pushed_timeline(engine, clip, settings), settings


@pytest.fixture(scope="module")
def mixed(engine, clip):
    """Four sessions that differ in every setting: window, anchor, guidance, seed and steps."""
    return [
        _pushed(engine, clip, seed=3, window=4, anchor_on=True, guidance=0.5, steps=2),
        _pushed(engine, clip, seed=4, window=2, anchor_on=False, guidance=0.0, steps=1),
        _pushed(engine, clip[::-1].copy(), seed=5, window=3, anchor_on=True, guidance=2.0, steps=3),
        _pushed(engine, clip, seed=6, window=1, anchor_on=False, guidance=1.0, steps=4),
    ]


def _leaves(tree) -> list[np.ndarray]:
    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def _assert_same_bits(a, b) -> None:
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


FLOAT_ATOL = 1e-5  # latents, cache, penalty: 7e-7 measured
PIXEL_LEVELS = 1  # uint8 frames: 1 level measured
PIXEL_FRACTION = 1e-3  # of uint8 values that may differ at all: 1 in 24,576 measured


def _assert_same_up_to_rounding(a, b) -> None:
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        if np.issubdtype(x.dtype, np.floating):
            np.testing.assert_allclose(x, y, rtol=0, atol=FLOAT_ATOL)
        elif x.dtype == np.uint8:
            difference = np.abs(x.astype(int) - y.astype(int))
            assert difference.max() <= PIXEL_LEVELS
            assert np.count_nonzero(difference) <= PIXEL_FRACTION * x.size
        else:  # counters, positions, random keys: no rounding in them
            np.testing.assert_array_equal(x, y)


def test_the_same_sessions_in_the_same_slots_get_the_same_bits(engine, mixed):
    first = engine.run_slots("generate", mixed)
    again = engine.run_slots("generate", mixed)
    for a, b in zip(first, again, strict=True):
        _assert_same_bits(a, b)


def test_a_session_served_alone_gets_the_same_bits_every_time(engine, mixed):
    for session in mixed:
        first = engine.run_slots("generate", [session] * SLOTS)[0]
        _assert_same_bits(first, engine.run_slots("generate", [session] * SLOTS)[0])


def test_a_sessions_chunk_depends_on_its_slot_only_by_rounding(engine, mixed):
    forward = engine.run_slots("generate", mixed)
    backward = engine.run_slots("generate", mixed[::-1])[::-1]
    for a, b in zip(forward, backward, strict=True):
        _assert_same_up_to_rounding(a, b)


def test_a_sessions_chunk_depends_on_who_shares_its_tick_only_by_rounding(engine, mixed):
    shared = engine.run_slots("generate", mixed)
    for index, session in enumerate(mixed):
        alone = engine.run_slots("generate", [session] * SLOTS)[0]
        _assert_same_up_to_rounding(shared[index], alone)


def test_sessions_with_different_settings_get_different_chunks_from_one_tick(engine, mixed):
    chunks = [chunk for chunk, _ in engine.run_slots("generate", mixed)]
    pixels = [np.asarray(chunk.pixels) for chunk in chunks]
    assert all(not np.array_equal(pixels[0], other) for other in pixels[1:])


def test_the_batched_program_matches_the_one_session_program_closely(engine, mixed):
    def one(dit_params, vae_params, timeline, settings):
        dit = nnx.merge(engine.dit_def, dit_params)
        return generate(dit, nnx.merge(engine.vae_def, vae_params), TINY, timeline, settings)

    batched = engine.run_slots("generate", mixed)
    for session, (chunk, after) in zip(mixed, batched, strict=True):
        single, single_after = jax.jit(one)(engine.dit_params, engine.vae_params, *session)
        np.testing.assert_allclose(single.latents, chunk.latents, atol=1e-5)
        assert np.abs(np.asarray(single.pixels, int) - np.asarray(chunk.pixels)).max() <= 1
        np.testing.assert_allclose(single_after.cache.ring_k, after.cache.ring_k, atol=1e-5)


def _extend_in_chunks(session, chunks: int, frames_per_chunk: int) -> list[np.ndarray]:
    return [session.extend(frames_per_chunk) for _ in range(chunks)]


def test_sessions_joining_and_leaving_mid_stream_get_the_frames_they_get_alone_up_to_rounding(
    engine, clip
):
    per_chunk = engine.config.frames_per_chunk
    plans = {  # seed: (chunks before starting, chunks streamed)
        0: (0, 6),
        1: (2, 2),  # joins late, leaves early
        2: (1, 4),
    }

    def opened(seed: int):
        session = engine.open(anchor="both", seed=seed, steps=1 + seed % 2, window=3)
        session.push(clip)
        return session

    alone = {seed: _extend_in_chunks(opened(seed), n, per_chunk) for seed, (_, n) in plans.items()}

    together: dict[int, list[np.ndarray]] = {}
    progress = threading.Condition()
    chunks_done = [0]

    def run(seed: int) -> None:
        wait, count = plans[seed]
        session = opened(seed)
        with progress:
            progress.wait_for(lambda: chunks_done[0] >= wait, timeout=60)
        together[seed] = []
        for _ in range(count):
            together[seed].append(session.extend(per_chunk))
            if seed == 0:
                with progress:
                    chunks_done[0] += 1
                    progress.notify_all()

    threads = [threading.Thread(target=run, args=(seed,)) for seed in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for seed in plans:
        assert len(together[seed]) == len(alone[seed])
        for a, b in zip(together[seed], alone[seed], strict=True):
            _assert_same_up_to_rounding(a, b)


def test_sessions_streaming_at_the_same_time_share_ticks(tiny_models, clip):
    # One worker: with two, concurrent calls may also split between the workers' ticks.
    engine = Engine(TINY, *tiny_models, slots=SLOTS, workers=1)
    sessions = [engine.open(seed=seed) for seed in range(SLOTS)]
    for session in sessions:
        session.push(clip)
    calls, ticks = engine.batcher.calls, engine.batcher.ticks
    threads = [threading.Thread(target=session.extend, args=(64,)) for session in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    calls, ticks = engine.batcher.calls - calls, engine.batcher.ticks - ticks
    assert calls / ticks >= 1.5  # four sessions: 1.0 would be no sharing at all
