"""Where a chunk's flow starts: pure noise, or the last latent frame plus noise, so that a model
which has learnt nothing about motion repeats the last frame instead of inventing texture."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stream.config import DiTConfig
from stream.layout import teacher_forcing
from stream.sampler import flow_start
from train.config import TINY, DiTObjective
from train.objectives import dit_loss


def test_flow_from_last_latent_centres_the_start_on_it():
    noise = jnp.ones((1, 2, 4, 4, 3))
    last = jnp.full((1, 1, 4, 4, 3), 5.0)
    np.testing.assert_array_equal(
        flow_start(noise, last, "last_latent"), jnp.full(noise.shape, 6.0)
    )
    np.testing.assert_array_equal(flow_start(noise, last, "noise"), noise)


def test_unknown_flow_origin_is_refused_by_name():
    with pytest.raises(ValueError, match="flow_from"):
        DiTConfig(flow_from="previous")


def _still_video(flow_from: str, level: float = 0.0):
    """(engine config, still latents (2, 7, h, w, C) at `level` plus a random frame, layout)."""
    engine = dataclasses.replace(TINY, dit=dataclasses.replace(TINY.dit, flow_from=flow_from))
    dit = engine.dit
    z = level + jax.random.normal(
        jax.random.key(0), (dit.latent_size, dit.latent_size, dit.latent_channels)
    )
    latents = jnp.broadcast_to(z, (2, 7, *z.shape))  # (B, L, h, w, C): every frame the same
    return engine, z, latents, teacher_forcing(7, dit.chunk_frames)


@pytest.mark.parametrize("flow_from", ["noise", "last_latent"])
def test_the_target_velocity_leads_back_to_the_true_frames(flow_from):
    engine, z, latents, layout = _still_video(flow_from)

    def oracle(inputs, s, segments):  # x0_hat = x_s - s v = z, the truth of a still video
        return (inputs - z) / jnp.maximum(s, 1e-6)[..., None, None, None], None, None

    loss, _ = dit_loss(oracle, latents, layout, jax.random.key(1), engine, DiTObjective())
    assert float(loss) < 1e-8


@pytest.mark.parametrize("flow_from, centred", [("last_latent", True), ("noise", False)])
def test_noisy_frames_are_centred_on_the_last_latent_only_when_the_flow_starts_there(
    flow_from, centred
):
    engine, z, latents, layout = _still_video(flow_from, level=10.0)
    seen = {}

    def recorder(inputs, s, segments):
        seen["noisy"] = inputs[:, 7:]  # (B, N, h, w, C): the noisy copies after 7 clean frames
        return jnp.zeros_like(inputs), None, None

    dit_loss(recorder, latents, layout, jax.random.key(1), engine, DiTObjective())
    offset = float(jnp.abs(seen["noisy"].mean() - z.mean()))
    assert (offset < 0.5) == centred
