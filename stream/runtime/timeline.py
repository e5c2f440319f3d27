"""A timeline's device state and the programs that advance it, written for one session.

The engine vmaps each program over its slots, so the sessions of one tick share one compiled call
(batcher.py); written for batch 1, a program cannot mix one session's data into another's.

- push: real frames -> one latent frame (encoder step), committed as context and decoded; the
  engine's pixel filters observe the real frames (stream/filters);
- generate: one chunk from noise -> denoised (chunk.py), its change scaled, committed, decoded,
  and passed through the pixel filters;
- commit_latent: a latent frame known without pixels (the drift lab's truth) committed and decoded.

Two inputs: the model's config, fixed per engine and compiled in (its sampler fields decide the
change-scale policy and the pixel filters), and the session's traced SessionSettings.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from stream.config import EngineConfig
from stream.filters import pixel_filters
from stream.media.pixels import to_uint8, to_unit
from stream.model.dit import DiT
from stream.model.vae import CausalVAE
from stream.runtime import backtest
from stream.runtime.anchor import Penalty, anchor_penalty
from stream.runtime.chunk import SessionSettings, commit_chunk, denoise_chunk
from stream.runtime.kv_cache import KVCache, init_cache
from stream.runtime.sampler import chunk_noise, guidance_ramp, shrink_change


class Timeline(NamedTuple):
    cache: KVCache
    decoder: Any  # the VAE decoder's causal state
    last_latent: jax.Array  # newest clean latent frame, (1, 1, h, w, C)
    z0: jax.Array  # the anchor: the first latent frame, (h, w, C)
    generated: jax.Array  # chunks generated since the last real latent frame, () int32
    # The change-scale fit's running sums, (2,) (backtest.py); () when the scale is fixed.
    scale_fit: Any
    filters: tuple  # one state per pixel filter the config composes (stream/filters); () if none


class Chunk(NamedTuple):
    latents: jax.Array  # clean latent frames, (1, F, h, w, C)
    pixels: jax.Array  # their frames, uint8 (4F, S, S, 3)
    anchor_penalty: jax.Array  # C(z_t, z_0) per latent frame, (F,)


def new_timeline(config: EngineConfig, vae: CausalVAE) -> Timeline:
    size, latent = config.image_size, config.dit.latent_size
    return Timeline(
        cache=init_cache(config.dit),
        decoder=vae.init_decoder_state(1, size, size),
        last_latent=jnp.zeros((1, 1, latent, latent, config.dit.latent_channels), jnp.float32),
        z0=jnp.zeros((latent, latent, config.dit.latent_channels), jnp.float32),
        generated=jnp.int32(0),
        scale_fit=backtest.new_sums() if config.sampler.fit_change_scale else (),
        filters=tuple(f.init(size) for f in pixel_filters(config.sampler)),
    )


def commit_latent(
    dit: DiT,
    vae: CausalVAE,
    config: EngineConfig,
    timeline: Timeline,
    latent: jax.Array,
    settings: SessionSettings,
) -> tuple[jax.Array, Timeline]:
    """Commit a clean latent frame (1, 1, h, w, C) and decode it: returns its frames
    (1, 4, S, S, 3) in [-1, 1] and the timeline after it (the first frame becomes z_0). With
    sampler.fit_change_scale the model first predicts the frame, as a test (backtest.py)."""
    sums = timeline.scale_fit
    if config.sampler.fit_change_scale:
        # Unscaled: the fit measures how much of the model's own change comes true.
        predicted = _denoise_next(dit, config, timeline, settings, jnp.int32(1))  # (1, F, h, w, C)
        tested = backtest.add_test(sums, predicted[0, 0], timeline.last_latent[0, 0], latent[0, 0])
        sums = jnp.where(timeline.cache.length > 0, tested, sums)  # (2,)
    cache = commit_chunk(
        dit, config.dit, timeline.cache, latent, settings, config.sampler.context_noise
    )
    decoded, decoder = vae.decode_step(latent, timeline.decoder)  # (1, 4, S, S, 3)
    z0 = jnp.where(timeline.cache.length == 0, latent[0, 0], timeline.z0)  # (h, w, C)
    return decoded, timeline._replace(
        cache=cache,
        decoder=decoder,
        last_latent=latent,
        z0=z0,
        generated=jnp.int32(0),
        scale_fit=sums,
    )


def push(
    dit: DiT,
    vae: CausalVAE,
    config: EngineConfig,
    encoder: Any,
    timeline: Timeline,
    frames: jax.Array,
    settings: SessionSettings,
) -> tuple[jax.Array, Any, Timeline]:
    """Real uint8 frames (1, G, S, S, 3), G = 1 for the first group and 4 after, become one latent
    frame (1, 1, h, w, C); returns it, the encoder state and the timeline after it."""
    pixels = to_unit(frames)  # (1, G, S, S, 3) in [-1, 1]
    latent, encoder = vae.encode_step(pixels, encoder)  # (1, 1, h, w, C)
    _, timeline = commit_latent(dit, vae, config, timeline, latent, settings)

    def no_change() -> jax.Array:
        return vae.decode_step(latent, timeline.decoder)[0][0]  # (4, S, S, 3)

    observed = tuple(
        f.observe(state, pixels[0], no_change)
        for f, state in zip(pixel_filters(config.sampler), timeline.filters, strict=True)
    )
    return latent, encoder, timeline._replace(filters=observed)


def _denoise_next(
    dit: DiT,
    config: EngineConfig,
    timeline: Timeline,
    settings: SessionSettings,
    generated: jax.Array,
    penalty: Penalty = anchor_penalty,
) -> jax.Array:
    """The timeline's next chunk of clean latents (1, F, h, w, C), unscaled, denoised from its
    own noise (a function of seed and position) as the `generated`-th chunk since the last real
    frame."""
    dit_config = config.dit
    size = dit_config.latent_size
    shape = (1, dit_config.chunk_frames, size, size, dit_config.latent_channels)
    noise = chunk_noise(settings.seed, timeline.cache.length, shape)  # (1, F, h, w, C)
    settings = settings._replace(
        guidance=settings.guidance * guidance_ramp(generated, config.sampler.guidance_ramp_chunks)
    )
    return denoise_chunk(
        dit, dit_config, timeline.cache, noise, timeline.last_latent, settings, timeline.z0, penalty
    )  # (1, F, h, w, C)


def change_scale(config: EngineConfig, timeline: Timeline) -> jax.Array | float:
    """The scale of the timeline's next chunk's change from its last latent frame: fitted on the
    session's own real frames (backtest.py), or the model's fixed sampler.change_scale."""
    fixed = config.sampler.change_scale
    if config.sampler.fit_change_scale:
        return backtest.fitted_scale(timeline.scale_fit, jnp.float32(fixed))
    return fixed


def generate(
    dit: DiT,
    vae: CausalVAE,
    config: EngineConfig,
    timeline: Timeline,
    settings: SessionSettings,
    penalty: Penalty = anchor_penalty,
) -> tuple[Chunk, Timeline]:
    """The next chunk of the timeline, from its own noise (a function of seed and position).
    penalty: the guidance anchor's C (the drift lab's sweep passes others)."""
    generated = timeline.generated + 1
    x = _denoise_next(dit, config, timeline, settings, generated, penalty)  # (1, F, h, w, C)
    x = shrink_change(x, timeline.last_latent, change_scale(config, timeline))
    cache = commit_chunk(dit, config.dit, timeline.cache, x, settings, config.sampler.context_noise)
    # The causal decoder takes the chunk's latent frames in one call: bigger convolutions than
    # one frame at a time, the same frames up to float rounding.
    decoded, decoder = vae.decode_step(x, timeline.decoder)  # (1, 4F, S, S, 3)
    pixels = decoded[0]  # (4F, S, S, 3)
    for f, state in zip(pixel_filters(config.sampler), timeline.filters, strict=True):
        pixels = f.apply(state, pixels)  # (4F, S, S, 3)
    chunk = Chunk(x, to_uint8(pixels), anchor_penalty(x[0], timeline.z0))
    return chunk, timeline._replace(
        cache=cache, decoder=decoder, last_latent=x[:, -1:], generated=generated
    )
