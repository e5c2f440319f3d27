"""The second guidance penalty (low-frequency latent content) and the force the sweep reads."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stream.config import SamplerConfig
from stream.lab.chunk_map import ChunkMap
from stream.lab.guidance_sweep import GuidanceForce, force_ratio, strengths
from stream.runtime.anchor import lowfreq_penalty, restoring_force
from stream.runtime.chunk import session_settings
from stream.runtime.sampler import chunk_noise


def test_lowfreq_penalty_ignores_rearrangement_within_a_block_and_sees_a_move_across():
    z0 = jax.random.normal(jax.random.key(0), (8, 8, 4))
    within = z0.at[:4, :4].set(z0[:4, :4][::-1, ::-1])  # shuffled inside the top-left block
    across = jnp.roll(z0, 4, axis=1)  # half a frame to the right
    assert float(lowfreq_penalty(within, z0)) == pytest.approx(0.0, abs=1e-10)
    assert float(lowfreq_penalty(across, z0)) > 1e-3


def test_a_step_down_the_lowfreq_force_lowers_the_penalty():
    z0 = jax.random.normal(jax.random.key(1), (8, 8, 4))
    z = z0 + jax.random.normal(jax.random.key(2), (2, 8, 8, 4))  # (F, h, w, C)
    moved = z - 0.5 * restoring_force(z, z0, lowfreq_penalty)
    assert float(lowfreq_penalty(moved, z0).sum()) < float(lowfreq_penalty(z, z0).sum())


def test_lowfreq_guidance_changes_the_chunk_the_map_predicts(tiny_engine):
    window = tiny_engine.config.dit.window_frames
    dit = tiny_engine.config.dit
    state = jax.random.normal(jax.random.key(3), (window, dit.latent_size, dit.latent_size, 4))
    z0 = state[0]
    noise = chunk_noise(0, window + 1, (1, dit.chunk_frames, *state.shape[1:]))
    chunk_map = ChunkMap(tiny_engine, window)

    def predict(lowfreq: float) -> np.ndarray:
        settings = session_settings(window, True, 0.0, 0, 1, SamplerConfig(shift=1.0), lowfreq)
        return np.asarray(chunk_map.apply(state, z0, noise, settings, window + 1))

    assert not np.allclose(predict(0.0), predict(30.0))


def test_the_force_ratio_grows_with_lambda_from_zero(tiny_engine):
    window = tiny_engine.config.dit.window_frames
    dit = tiny_engine.config.dit
    state = jax.random.normal(jax.random.key(4), (window, dit.latent_size, dit.latent_size, 4))
    noise = chunk_noise(0, window + 1, (1, dit.chunk_frames, *state.shape[1:]))
    settings = session_settings(window, True, 0.0, 0, 1, SamplerConfig(shift=1.0))
    row = GuidanceForce(tiny_engine)(state, state[0], noise, settings, window + 1)
    assert row["velocity"] > 0 and row["stats"] > 0 and row["lowfreq"] > 0
    assert force_ratio([row], "lowfreq", 0.0) == 0.0
    assert force_ratio([row], "lowfreq", 20.0) == pytest.approx(
        2 * force_ratio([row], "lowfreq", 10.0)
    )


def test_a_penalty_sets_its_own_strength_only():
    assert strengths("stats", 3.0) == (3.0, 0.0) and strengths("lowfreq", 3.0) == (0.0, 3.0)
    with pytest.raises(ValueError, match="penalty"):
        strengths("edges", 1.0)


def test_the_command_line_offers_the_labs_penalties():
    from cli.drift import SWEEP_PENALTIES
    from stream.lab.guidance_sweep import PENALTIES

    assert SWEEP_PENALTIES == PENALTIES
