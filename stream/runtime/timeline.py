"""A timeline's device state and the programs that advance it, written for one session.

The engine vmaps each program over its slots, so the sessions of one tick share one compiled call
(batcher.py); written for batch 1, a program cannot mix one session's data into another's.

- push: real frames -> one latent frame (encoder step), committed as context and decoded, then
  decoded once more as if repeated: the reference of detail carry-over (stream/runtime/detail.py);
  with the change-scale fit, the frame is first predicted from the context before it
  (backtest.py);
- generate: one chunk from noise -> denoised (stream/runtime/chunk.py) with the change scale (fixed,
  or fitted by backtest.py), committed, decoded;
- commit_latent: a latent frame known without pixels (the drift lab's truth) committed and decoded.

With sampler.continue_motion, push also measures the real frames' motion and generate moves each
predicted frame on along it (motion.py); with sampler.fit_blend, push also tests the stream's
prediction of the real frames in pixels and generate mixes each predicted frame with the last real
frame and its smoothing by the fitted weights (blend.py).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from stream.config import EngineConfig
from stream.media.pixels import to_uint8, to_unit
from stream.model.dit import DiT
from stream.model.vae import TEMPORAL_FACTOR, CausalVAE
from stream.runtime import backtest, blend, motion
from stream.runtime.anchor import anchor_penalty
from stream.runtime.chunk import SessionSettings, commit_chunk, denoise_chunk
from stream.runtime.detail import carry_detail
from stream.runtime.kv_cache import KVCache, init_cache
from stream.runtime.sampler import chunk_noise, guidance_ramp, shrink_change


class Timeline(NamedTuple):
    cache: KVCache
    decoder: Any  # the VAE decoder's causal state
    last_latent: jax.Array  # newest clean latent frame, (1, 1, h, w, C)
    z0: jax.Array  # the anchor: the first latent frame, (h, w, C)
    # Detail carry-over's reference: (the last real latent frame decoded once more, as if
    # repeated: the 4 frames of the decoder's own answer "no change"; the last real frame minus
    # each of them), (4, S, S, 3) each; zeros carry nothing.
    reference: tuple[jax.Array, jax.Array]
    generated: jax.Array  # chunks generated since the last real latent frame, () int32
    backtest: jax.Array  # running sums of the change-scale fit (backtest.py), (2,)
    blend: blend.Blend  # the blend fit's sums and its pending test (blend.py)
    motion: motion.Motion  # the real frames' motion and its fit (motion.py)


class Chunk(NamedTuple):
    latents: jax.Array  # clean latent frames, (1, F, h, w, C)
    pixels: jax.Array  # their frames, uint8 (4F, S, S, 3)
    anchor_penalty: jax.Array  # C(z_t, z_0) per latent frame, (F,)


def new_timeline(config: EngineConfig, vae: CausalVAE) -> Timeline:
    size, latent = config.image_size, config.dit.latent_size
    blank = jnp.zeros((TEMPORAL_FACTOR, size, size, 3), jnp.float32)
    return Timeline(
        cache=init_cache(config.dit),
        decoder=vae.init_decoder_state(1, size, size),
        last_latent=jnp.zeros((1, 1, latent, latent, config.dit.latent_channels), jnp.float32),
        z0=jnp.zeros((latent, latent, config.dit.latent_channels), jnp.float32),
        reference=(blank, blank),
        generated=jnp.int32(0),
        backtest=backtest.new_sums(),
        blend=blend.new_blend(size),
        motion=motion.new_motion(size),
    )


def commit_latent(
    dit: DiT,
    vae: CausalVAE,
    config: EngineConfig,
    timeline: Timeline,
    latent: jax.Array,
    settings: SessionSettings,
    predicted: jax.Array | None = None,
) -> tuple[jax.Array, Timeline]:
    """Commit a clean latent frame (1, 1, h, w, C) and decode it: returns its frames
    (1, 4, S, S, 3) in [-1, 1] and the timeline after it (the first frame becomes z_0). With
    sampler.fit_change_scale the model first predicts the frame, as a test (backtest.py);
    `predicted`: that prediction, when the caller has made it already (push, for both fits)."""
    if predicted is None:
        predicted = _prediction_for_tests(dit, config, timeline, settings)
    sums = timeline.backtest
    if config.sampler.fit_change_scale:
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
        backtest=sums,
    )


def _prediction_for_tests(
    dit: DiT, config: EngineConfig, timeline: Timeline, settings: SessionSettings
) -> jax.Array | None:
    """The model's prediction (1, F, h, w, C) of the next latent frame from the context before
    it, unscaled, when a fit calls for the test; None otherwise."""
    sampler = config.sampler
    if not (sampler.fit_change_scale or sampler.fit_blend):
        return None
    raw = settings._replace(change_scale=jnp.float32(1.0))
    return _denoise_next(dit, config, timeline, raw, jnp.int32(1))  # (1, F, h, w, C)


def _change_scale(config: EngineConfig, timeline: Timeline, settings: SessionSettings) -> jax.Array:
    """The change scale the timeline's next chunk gets: fitted (backtest.py) or the session's."""
    if config.sampler.fit_change_scale:
        return backtest.fitted_scale(timeline.backtest, settings.change_scale)
    return settings.change_scale


def _blend_tested(
    vae: CausalVAE,
    config: EngineConfig,
    timeline: Timeline,
    predicted: jax.Array,
    settings: SessionSettings,
    pixels: jax.Array,
) -> blend.Blend:
    """The blend fit after testing the stream's predictions of real frames pixels (G, S, S, 3)
    in [-1, 1]: the predicted latent frames at the session's change scale, decoded and given the
    last real frame's detail, as generate would stream them."""
    sampler = config.sampler
    scale = _change_scale(config, timeline, settings)
    latents = shrink_change(predicted, timeline.last_latent, scale)  # (1, F, h, w, C)
    decoded = vae.decode_step(latents[:, : blend.HORIZONS], timeline.decoder)[0][0]  # (8, S, S, 3)
    repeated, carried = (jnp.tile(r, (blend.HORIZONS, 1, 1, 1)) for r in timeline.reference)
    stream = carry_detail(decoded, repeated, carried, sampler.detail_width, sampler.detail_snap)
    made = timeline.cache.length > 0
    smoothed = timeline.reference[0]  # (4, S, S, 3)
    return blend.tested(timeline.blend, made, stream, smoothed, _last_real(timeline), pixels)


def _last_real(timeline: Timeline) -> jax.Array:
    """The last real frame (S, S, 3), from detail carry-over's reference (its smoothing plus
    the detail the smoothing lost)."""
    smoothed, detail = timeline.reference  # (4, S, S, 3) each
    return smoothed[0] + detail[0]


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
    predicted = _prediction_for_tests(dit, config, timeline, settings)
    fit = timeline.blend
    if config.sampler.fit_blend:
        fit = _blend_tested(vae, config, timeline, predicted, settings, pixels[0])
    decoded, timeline = commit_latent(dit, vae, config, timeline, latent, settings, predicted)
    # The decoder makes 4 frames of every latent frame, each its own way (a repeated latent frame
    # decodes to the same 4 frames again and again, up to 0.1 apart), so a prediction that does
    # not change is compared, and given the real frame's detail, frame by frame of that rhythm.
    repeated = vae.decode_step(latent, timeline.decoder)[0][0]  # (4, S, S, 3)
    reference = (repeated, pixels[0, -1] - repeated)  # (4, S, S, 3) each
    timeline = timeline._replace(reference=reference, blend=fit)
    if config.sampler.continue_motion:
        timeline = timeline._replace(motion=motion.observe(timeline.motion, pixels[0, -1]))
    return latent, encoder, timeline


def _denoise_next(
    dit: DiT,
    config: EngineConfig,
    timeline: Timeline,
    settings: SessionSettings,
    generated: jax.Array,
) -> jax.Array:
    """The timeline's next chunk of clean latents (1, F, h, w, C), denoised from its own noise (a
    function of seed and position) as the `generated`-th chunk since the last real frame."""
    dit_config = config.dit
    size = dit_config.latent_size
    shape = (1, dit_config.chunk_frames, size, size, dit_config.latent_channels)
    noise = chunk_noise(settings.seed, timeline.cache.length, shape)  # (1, F, h, w, C)
    settings = settings._replace(
        guidance=settings.guidance * guidance_ramp(generated, config.sampler.guidance_ramp_chunks)
    )
    return denoise_chunk(
        dit, dit_config, timeline.cache, noise, timeline.last_latent, settings, timeline.z0
    )  # (1, F, h, w, C)


def generate(
    dit: DiT,
    vae: CausalVAE,
    config: EngineConfig,
    timeline: Timeline,
    settings: SessionSettings,
) -> tuple[Chunk, Timeline]:
    """The next chunk of the timeline, from its own noise (a function of seed and position)."""
    sampler = config.sampler
    settings = settings._replace(change_scale=_change_scale(config, timeline, settings))
    generated = timeline.generated + 1
    x = _denoise_next(dit, config, timeline, settings, generated)  # (1, F, h, w, C)
    cache = commit_chunk(dit, config.dit, timeline.cache, x, settings, sampler.context_noise)
    # The causal decoder takes the chunk's latent frames in one call: bigger convolutions than
    # one frame at a time, the same frames up to float rounding.
    decoded, decoder = vae.decode_step(x, timeline.decoder)  # (1, 4F, S, S, 3)
    chunk_frames = config.dit.chunk_frames
    repeated, detail = (jnp.tile(r, (chunk_frames, 1, 1, 1)) for r in timeline.reference)
    pixels = carry_detail(
        decoded[0], repeated, detail, sampler.detail_width, sampler.detail_snap
    )  # (4F, S, S, 3)
    first = (generated - 1) * TEMPORAL_FACTOR * chunk_frames + 1  # 1: right after a real frame
    if sampler.fit_blend:
        weights = blend.frame_weights(timeline.blend.sums, first, pixels.shape[0])  # (4F, 2)
        pixels = blend.blend(pixels, repeated, _last_real(timeline), weights)  # (4F, S, S, 3)
    if sampler.continue_motion:
        pixels = motion.moved_on(timeline.motion, pixels, first, settings.change_scale)
    chunk = Chunk(x, to_uint8(pixels), anchor_penalty(x[0], timeline.z0))
    return chunk, timeline._replace(
        cache=cache, decoder=decoder, last_latent=x[:, -1:], generated=generated
    )
