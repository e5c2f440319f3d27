"""What the flow generates: latent frames, or their change from the last latent frame before the
chunk (a residual flow), so that a model which knows nothing repeats that frame exactly instead of
inventing texture."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stream.config import TINY, DiTConfig
from stream.model.layout import teacher_forcing
from stream.runtime.chunk import denoise_chunk, session_settings
from stream.runtime.kv_cache import init_cache
from stream.runtime.sampler import shrink_change
from train.config import DiTObjective
from train.objectives import dit_loss


def test_unknown_flow_space_is_refused_by_name():
    with pytest.raises(ValueError, match="flow_space"):
        DiTConfig(flow_space="previous")


def _engine(flow_space: str):
    return dataclasses.replace(TINY, dit=dataclasses.replace(TINY.dit, flow_space=flow_space))


def _still_video(flow_space: str, level: float = 0.0):
    """(engine config, the frame z, still latents (2, 7, h, w, C) of it, a training layout)."""
    engine = _engine(flow_space)
    dit = engine.dit
    shape = (dit.latent_size, dit.latent_size, dit.latent_channels)
    z = level + jax.random.normal(jax.random.key(0), shape)
    return engine, z, jnp.broadcast_to(z, (2, 7, *shape)), teacher_forcing(7, dit.chunk_frames)


def _oracle(truth: jax.Array):
    """A model whose clean estimate x_s - s v is always `truth`."""

    def model(inputs, s, segments):
        return (inputs - truth) / jnp.maximum(s, 1e-6)[..., None, None, None], None, None

    return model


def test_latent_flow_target_leads_to_the_true_frames():
    engine, z, latents, layout = _still_video("latent")
    loss, _ = dit_loss(_oracle(z), latents, layout, jax.random.key(1), engine, DiTObjective())
    assert float(loss) < 1e-8


def test_residual_flow_target_leads_to_no_change_on_a_still_video():
    engine, z, latents, layout = _still_video("residual", level=10.0)
    loss, _ = dit_loss(
        _oracle(jnp.zeros_like(z)), latents, layout, jax.random.key(1), engine, DiTObjective()
    )
    assert float(loss) < 1e-8


@pytest.mark.parametrize("flow_space", ["latent", "residual"])
def test_a_model_predicting_no_change_repeats_the_last_latent_only_in_a_residual_flow(flow_space):
    engine = _engine(flow_space)
    dit = engine.dit
    shape = (1, dit.chunk_frames, dit.latent_size, dit.latent_size, dit.latent_channels)
    last = jax.random.normal(jax.random.key(2), (1, 1, *shape[2:]))
    noise = jax.random.normal(jax.random.key(3), shape)
    settings = session_settings(dit.window_frames, True, 0.0, 0, 4, engine.sampler)
    chunk = denoise_chunk(
        _oracle(jnp.zeros(shape)), dit, init_cache(dit), noise, last, settings, last[0, 0]
    )
    repeats = bool(np.allclose(chunk, jnp.broadcast_to(last, shape), atol=1e-5))
    assert repeats == (flow_space == "residual")


def test_own_context_trains_on_the_models_estimates_of_the_context():
    engine, z, latents, layout = _still_video("residual", level=10.0)
    contexts = []

    def recorder(inputs, s, segments):
        contexts.append(inputs[:, 1:7])  # (B, 6, h, w, C): clean frames after the anchor
        return jnp.full_like(inputs, 0.5), None, None  # estimates x_s - 0.5 s: off the truth

    objective = dataclasses.replace(DiTObjective(), own_context=1.0, context_noise=0.0)
    dit_loss(recorder, latents, layout, jax.random.key(1), engine, objective)
    assert len(contexts) == 2, "a second pass on the model's own context"
    np.testing.assert_allclose(contexts[0], jnp.broadcast_to(z, contexts[0].shape), atol=1e-5)
    assert float(jnp.abs(contexts[1] - z).max()) > 0.01


@pytest.mark.parametrize("flow_space", ["latent", "residual"])
def test_a_change_scale_of_one_half_halves_each_chunks_change_from_the_last_latent(flow_space):
    engine = _engine(flow_space)
    dit = engine.dit
    shape = (1, dit.chunk_frames, dit.latent_size, dit.latent_size, dit.latent_channels)
    last = jax.random.normal(jax.random.key(2), (1, 1, *shape[2:]))
    change = jax.random.normal(jax.random.key(5), shape)
    target = last + change if flow_space == "latent" else change  # what the oracle generates
    noise = jax.random.normal(jax.random.key(3), shape)

    def chunk(scale: float) -> jax.Array:
        settings = session_settings(dit.window_frames, True, 0.0, 0, 4, engine.sampler)
        model = _oracle(target)
        x = denoise_chunk(model, dit, init_cache(dit), noise, last, settings, last[0, 0])
        return shrink_change(x, last, scale)  # (1, F, h, w, C)

    np.testing.assert_allclose(chunk(0.5) - last, 0.5 * (chunk(1.0) - last), atol=1e-4)


def test_a_change_scale_outside_zero_to_one_is_refused_by_name():
    with pytest.raises(ValueError, match="change_scale"):
        dataclasses.replace(TINY.sampler, change_scale=0.0)


def test_rollout_context_is_each_block_generated_from_the_blocks_generated_before_it():
    engine, z, latents, layout = _still_video("residual", level=10.0)
    sampler = dataclasses.replace(engine.sampler, steps=2, change_scale=0.5)
    engine = dataclasses.replace(engine, sampler=sampler)
    change = 0.25
    contexts = []

    def generator(inputs, s, segments):
        """Generates `change` from the frame before each block; records what it was shown."""
        contexts.append(inputs[:, :7])
        return _oracle(jnp.full_like(z, change))(inputs, s, segments)

    objective = dataclasses.replace(DiTObjective(), rollout=1.0, context_noise=0.0)
    dit_loss(generator, latents, layout, jax.random.key(1), engine, objective)
    seen = np.asarray(contexts[-1][0, :, 0, 0, 0])  # the training pass's clean frames
    # Frame 0 is the true prefix; frames 1-2, 3-4, 5-6 are blocks 1, 2, 3, each the frame
    # before it plus the change, halved by the change scale.
    block = np.r_[0, (np.arange(1, 7) - 1) // engine.dit.chunk_frames + 1]  # (7,)
    expected = float(z[0, 0, 0]) + 0.5 * change * block
    np.testing.assert_allclose(seen, expected, atol=1e-4)
