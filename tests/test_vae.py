"""Causal VAE: shapes, chunk-plan invariance of streaming encode/decode, causality, sane init."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from stream.model.vae import CausalVAE, VAEConfig, kl, sample_latent

pytestmark = pytest.mark.slow  # the edit-test loop leaves it out (README, Tests)

# 64x64 frames give 8x8 latents. XLA:CPU's conv rounding depends on the batch size (B*T) for small
# images; at 4x4 latents those differences, amplified through this thin decoder, reach the 1e-5
# tolerance, at 8x8 they stay below 1e-6.
CFG = VAEConfig(latent_channels=4, base_channels=8)
B, T, H, W = 1, 9, 64, 64  # T = 1 + 4k with k = 2
K = (T - 1) // 4
TOL = 1e-5

_encode = nnx.jit(lambda m, x: m.encode(x))
_encode_step = nnx.jit(lambda m, x, s: m.encode_step(x, s))
_decode = nnx.jit(lambda m, z: m.decode(z))
_decode_step = nnx.jit(lambda m, z, s: m.decode_step(z, s))


@pytest.fixture(scope="module")
def model() -> CausalVAE:
    return CausalVAE(CFG, rngs=nnx.Rngs(0))


@pytest.fixture(scope="module")
def frames() -> jax.Array:
    return jax.random.uniform(jax.random.key(1), (B, T, H, W, 3), minval=-1.0, maxval=1.0)


@pytest.fixture(scope="module")
def whole(model, frames) -> tuple[jax.Array, jax.Array]:
    return _encode(model, frames)


def _stream_encode(model: CausalVAE, frames: jax.Array, plan: list[int]) -> jax.Array:
    """Push chunks of the plan's sizes as a session would, stepping on 1 frame, then groups of 4."""
    state = model.init_encoder_state(B, H, W)
    pending, latents, start = [], [], 0
    for size in plan:
        pending.extend(jnp.split(frames[:, start : start + size], size, axis=1))
        start += size
        while len(pending) >= (4 if latents else 1):
            n = 4 if latents else 1
            z, state = _encode_step(model, jnp.concatenate(pending[:n], axis=1), state)
            latents.append(z)  # (B, 1, h, w, Cz)
            pending = pending[n:]
    assert start == T and not pending
    return jnp.concatenate(latents, axis=1)  # (B, 1+k, h, w, Cz)


def _max_abs(a: jax.Array, b: jax.Array) -> float:
    return float(jnp.max(jnp.abs(a - b)))


def _shapes(tree: dict[str, jax.Array]) -> dict[str, tuple]:
    return {name: (a.shape, a.dtype) for name, a in tree.items()}


def test_whole_encode_gives_one_latent_for_frame_zero_and_each_group_of_four(whole):
    mean, logvar = whole
    assert mean.shape == logvar.shape == (B, 1 + K, H // 8, W // 8, CFG.latent_channels)


@pytest.mark.parametrize("plan", [[1] * T, [4, 4, 1], [1, 4, 4], [2, 7], [T]])
def test_streaming_encode_equals_whole_encode_for_any_chunk_plan(model, frames, whole, plan):
    assert _max_abs(_stream_encode(model, frames, plan), whole[0]) <= TOL


def test_latents_do_not_depend_on_later_frames(model, frames, whole):
    # Also rules out statistics over time (GroupNorm-like): those would leak later frames back.
    noise = jax.random.uniform(jax.random.key(2), frames.shape, minval=-1.0, maxval=1.0)
    for j in range(K):
        changed = frames.at[:, 4 * j + 1 :].set(noise[:, 4 * j + 1 :])
        mean, _ = _encode(model, changed)
        assert _max_abs(mean[:, : j + 1], whole[0][:, : j + 1]) <= TOL
        assert _max_abs(mean[:, j + 1 :], whole[0][:, j + 1 :]) > 1e-3  # the change is seen


def test_streaming_decode_equals_whole_decode(model, whole):
    mean = whole[0]
    state = model.init_decoder_state(B, H, W)
    chunks = []
    for j in range(1 + K):
        x, state = _decode_step(model, mean[:, j : j + 1], state)
        chunks.append(x)  # (B, 4, H, W, 3)
    streamed = jnp.concatenate(chunks, axis=1)[:, 3:]  # (B, 1+4k, H, W, 3)
    decoded = _decode(model, mean)
    assert decoded.shape == (B, T, H, W, 3)
    assert _max_abs(streamed, decoded) <= TOL


def test_step_states_keep_their_shapes(model, frames, whole):
    # Fixed shapes are what lets encode_step compile once per step shape and decode_step once.
    enc = model.init_encoder_state(B, H, W)
    _, after_first = _encode_step(model, frames[:, :1], enc)
    _, after_group = _encode_step(model, frames[:, 1:5], after_first)
    assert _shapes(after_first) == _shapes(after_group) == _shapes(enc)
    dec = model.init_decoder_state(B, H, W)
    _, after = _decode_step(model, whole[0][:, :1], dec)
    assert _shapes(after) == _shapes(dec)


def test_random_init_outputs_are_finite_and_order_one(whole, model):
    mean, logvar = whole
    decoded = _decode(model, mean)
    for x in (mean, logvar, decoded):
        assert bool(jnp.all(jnp.isfinite(x)))
        assert 0.05 < float(jnp.std(x)) < 5.0


def test_sample_latent_is_mean_plus_sigma_times_noise():
    mean = jnp.full((2, 1, 2, 2, 4), 0.5)
    logvar = jnp.full_like(mean, np.log(0.25))
    key = jax.random.key(3)
    expected = mean + 0.5 * jax.random.normal(key, mean.shape)
    np.testing.assert_allclose(sample_latent(mean, logvar, key), expected, rtol=1e-6)


def test_kl_is_zero_at_the_prior_and_matches_the_closed_form():
    zeros = jnp.zeros((2, 1, 2, 2, 4))
    assert float(kl(zeros, zeros)) == 0.0
    mean, var = 0.5, 0.25
    got = kl(jnp.full_like(zeros, mean), jnp.full_like(zeros, np.log(var)))
    assert float(got) == pytest.approx(0.5 * (mean**2 + var - 1.0 - np.log(var)), rel=1e-6)


def test_encode_is_differentiable(model):
    x = jax.random.uniform(jax.random.key(4), (1, 5, 16, 16, 3), minval=-1.0, maxval=1.0)

    @nnx.jit
    def flat_grads(m: CausalVAE) -> jax.Array:
        grads = nnx.grad(lambda m: kl(*m.encode(x)))(m)
        return jnp.concatenate([g.ravel() for g in jax.tree.leaves(grads)])  # (n_params,)

    g = flat_grads(model)
    assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.max(jnp.abs(g))) > 0.0


def test_three_levels_with_shortcuts_compress_four_times_and_stream_exactly():
    config = VAEConfig(latent_channels=4, base_channels=8, channel_mults=(1, 2, 4), shortcuts=True)
    model = CausalVAE(config, rngs=nnx.Rngs(0))
    x = jax.random.uniform(jax.random.key(5), (1, 5, 32, 32, 3), minval=-1.0, maxval=1.0)
    mean, _ = _encode(model, x)
    assert config.spatial_factor == 4
    assert mean.shape == (1, 2, 8, 8, 4)
    state = model.init_encoder_state(1, 32, 32)
    first, state = _encode_step(model, x[:, :1], state)
    second, _ = _encode_step(model, x[:, 1:], state)
    assert _max_abs(jnp.concatenate([first, second], axis=1), mean) <= TOL
    state = model.init_decoder_state(1, 32, 32)
    streamed = []
    for j in range(2):
        frames, state = _decode_step(model, mean[:, j : j + 1], state)
        streamed.append(frames)  # (1, 4, 32, 32, 3)
    whole = _decode(model, mean)
    assert _max_abs(jnp.concatenate(streamed, axis=1)[:, 3:], whole) <= TOL


def test_latent_scale_multiplies_latents_and_decoding_undoes_it(model, frames, whole):
    scaled = CausalVAE(dataclasses.replace(CFG, latent_scale=2.0), rngs=nnx.Rngs(0))
    mean, logvar = _encode(scaled, frames)
    np.testing.assert_allclose(mean, 2.0 * whole[0], rtol=1e-6)
    np.testing.assert_allclose(logvar, whole[1] + 2.0 * np.log(2.0), rtol=1e-5, atol=1e-5)
    assert _max_abs(_decode(scaled, mean), _decode(model, whole[0])) <= TOL


def test_config_rejects_fewer_than_three_levels_and_nonpositive_scale():
    with pytest.raises(ValueError, match="channel_mults"):
        VAEConfig(channel_mults=(1, 2))
    with pytest.raises(ValueError, match="latent_scale"):
        VAEConfig(latent_scale=0.0)
