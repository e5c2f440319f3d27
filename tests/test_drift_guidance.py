"""The second guidance penalty (low-frequency latent content) and the force the sweep reads."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from stream.config import SamplerConfig
from stream.lab.guidance_sweep import GuidanceForce, force_ratio, lowfreq_penalty
from stream.runtime.anchor import anchor_penalty, restoring_force
from stream.runtime.chunk import session_settings
from stream.runtime.sampler import chunk_noise, euler_update


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


def test_the_sampler_steps_down_the_penalty_it_is_given():
    z0 = jax.random.normal(jax.random.key(3), (8, 8, 4))
    x = z0 + jax.random.normal(jax.random.key(4), (1, 2, 8, 8, 4))  # (B, F, h, w, C)
    still, origin = jnp.zeros_like(x), jnp.zeros_like(x[:, :1])

    def step(penalty) -> jax.Array:
        return euler_update(x, still, 1.0, 0.5, z0, 10.0, origin, penalty)

    assert float(lowfreq_penalty(step(lowfreq_penalty), z0).sum()) < float(
        lowfreq_penalty(step(anchor_penalty), z0).sum()
    )


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


def test_the_command_line_offers_the_labs_penalties():
    from cli.drift import SWEEP_PENALTIES
    from stream.lab.guidance_sweep import PENALTIES

    assert SWEEP_PENALTIES == PENALTIES
