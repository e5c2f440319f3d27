"""The live loop's stages one by one, compiled apart: encode, decode, commit, one Euler step.

The engine runs them fused into its per-session programs (stream/runtime/timeline.py); the lab
takes them apart to measure each (the benchmark's per-stage table) and to encode or decode a clip
without a session (the evaluation's truth, the drift lab's latents). Frames are float32 in
[-1, 1].
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from stream.config import EngineConfig
from stream.media.pixels import to_uint8
from stream.runtime.engine import Engine
from stream.runtime.kv_cache import KVCache, cached_segments, commit_context, init_cache
from stream.runtime.sampler import euler_update


@functools.cache
def _programs(config: EngineConfig, vae_def: Any, dit_def: Any) -> dict[str, Any]:
    """The stages of a model, jitted once per architecture and sampler: parameters are arguments,
    so every engine of the same shapes (a training run's evals) shares the compilations."""
    dit_config, context_noise = config.dit, config.sampler.context_noise

    def encode(params, frames, state):
        return nnx.merge(vae_def, params).encode_step(frames, state)

    def decode(params, latent, state):
        return nnx.merge(vae_def, params).decode_step(latent, state)

    def commit(params, cache: KVCache, latent, window, anchor_on, seed) -> KVCache:
        model = nnx.merge(dit_def, params)
        return commit_context(
            model, dit_config, cache, latent, window, anchor_on, seed, context_noise
        )

    def denoise(params, cache: KVCache, x, s, s_next, window, anchor_on, z0, guidance, origin):
        model = nnx.merge(dit_def, params)
        s_frames = jnp.full(x.shape[:2], s, jnp.float32)  # (B, F)
        segments = cached_segments(dit_config, cache, x.shape[1], window, anchor_on)
        velocity, _, _ = model(x, s_frames, segments)
        return euler_update(x, velocity, s, s_next, z0, guidance, origin)

    return {
        "encode": jax.jit(encode),
        "decode": jax.jit(decode),
        "commit": jax.jit(commit),
        "denoise": jax.jit(denoise),
    }


class Stages:
    """One engine's stages, called with its parameters; `programs` maps each stage name to its
    jitted function (parameters first), for XLA's cost analysis."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.programs = _programs(engine.config, engine.vae_def, engine.dit_def)

    def new_cache(self) -> KVCache:
        return init_cache(self.engine.config.dit)

    def new_encoder_state(self) -> Any:
        return self.engine.new_encoder_state()

    def new_decoder_state(self) -> Any:
        size = self.engine.config.image_size
        return self.engine.vae.init_decoder_state(1, size, size)

    def encode(self, frames: jax.Array, state: Any) -> tuple[jax.Array, Any]:
        """(1, 1 or 4, S, S, 3) frames -> one latent frame (1, 1, s, s, C) and the new state."""
        return self.programs["encode"](self.engine.vae_params, frames, state)

    def decode(self, latent: jax.Array, state: Any) -> tuple[jax.Array, Any]:
        """One latent frame (1, 1, s, s, C) -> 4 frames (1, 4, S, S, 3) and the new state."""
        return self.programs["decode"](self.engine.vae_params, latent, state)

    def decode_frames(self, latents: jax.Array, state: Any) -> tuple[np.ndarray, Any]:
        """Latent frames (1, F, s, s, C) -> uint8 frames (4F, S, S, 3) and the new state."""
        frames = []
        for f in range(latents.shape[1]):
            decoded, state = self.decode(latents[:, f : f + 1], state)
            frames.append(decoded[0])  # (4, S, S, 3)
        return np.asarray(to_uint8(jnp.concatenate(frames))), state  # (4F, S, S, 3)

    def commit(
        self, cache: KVCache, latent: jax.Array, window: int, anchor_on: bool, seed: int
    ) -> KVCache:
        """Write a clean latent frame (1, 1, s, s, C) into the cache, noised as context is in
        training (sampler.noised_context; the session's seed)."""
        return self.programs["commit"](
            self.engine.dit_params,
            cache,
            latent,
            np.int32(window),
            np.bool_(anchor_on),
            np.uint32(seed),
        )

    def denoise(
        self,
        cache: KVCache,
        x: jax.Array,
        s: float,
        s_next: float,
        window: int,
        anchor_on: bool,
        z0: jax.Array,
        guidance: float,
        origin: jax.Array,
    ) -> jax.Array:
        """One Euler step of a chunk (1, F, s, s, C) from diffusion time s to s_next; origin
        (1, 1, s, s, C) is what it is relative to (sampler.flow_origin)."""
        return self.programs["denoise"](
            self.engine.dit_params,
            cache,
            x,
            np.float32(s),
            np.float32(s_next),
            np.int32(window),
            np.bool_(anchor_on),
            z0,
            np.float32(guidance),
            origin,
        )
