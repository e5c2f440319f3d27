"""The one-chunk map of a rollout, as one traceable function: K Euler steps of the flow from the
chunk's start to clean latents, then the commit of those latents into the cache.

The engine compiles it (with the decode) into one program per chunk; the drift lab differentiates
the same function with jax.jvp, so what it measures is what the engine runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from stream.config import DiTConfig, SamplerConfig
from stream.runtime.anchor import Penalty, anchor_penalty
from stream.runtime.kv_cache import KVCache, cached_segments, commit_context
from stream.runtime.sampler import euler_update, flow_origin, time_schedule

MAX_STEPS = 64  # Euler steps a session may ask for; schedules are padded to this length


class SessionSettings(NamedTuple):
    """What a session chose (Engine.open), as arrays: traced, so sessions with other choices share
    one program. What the model fixes for every session is its SamplerConfig, compiled in."""

    window: jax.Array  # latent frames of rolling context, () int32
    anchor_on: jax.Array  # whether z_0 keeps its attention slot, () bool
    guidance: jax.Array  # lambda of the guidance anchor (0 when off), () float32
    seed: jax.Array  # of the chunk and context noise, () uint32
    steps: jax.Array  # Euler steps per chunk, () int32
    schedule: jax.Array  # diffusion times, steps + 1 used, padded with 0, (MAX_STEPS + 1,) float32


def session_settings(
    window: int,
    anchor_on: bool,
    guidance: float,
    seed: int,
    steps: int,
    sampler: SamplerConfig,
) -> SessionSettings:
    """The settings of a session of a model whose sampler is `sampler` (its timestep shift)."""
    schedule = np.zeros(MAX_STEPS + 1, np.float32)
    schedule[: steps + 1] = time_schedule(steps, sampler.shift)
    return SessionSettings(
        jnp.int32(window),
        jnp.bool_(anchor_on),
        jnp.float32(guidance),
        jnp.uint32(seed),
        jnp.int32(steps),
        jnp.asarray(schedule),
    )


def denoise_chunk(
    model: Callable,
    config: DiTConfig,
    cache: KVCache,
    noise: jax.Array,
    last_latent: jax.Array,
    settings: SessionSettings,
    z0: jax.Array,
    penalty: Penalty = anchor_penalty,
) -> jax.Array:
    """Integrate a chunk from noise (B, F, h, w, C) at s = 1 along the session's schedule down to
    clean latents (B, F, h, w, C), attending to the cache; last_latent (B, 1, h, w, C) is the
    clean latent frame before the chunk, which a residual flow is relative to. penalty: the
    guidance anchor's C (the drift lab passes others)."""
    segments = cached_segments(config, cache, noise.shape[1], settings.window, settings.anchor_on)
    origin = flow_origin(last_latent, config.flow_space)  # (B, 1, h, w, C)

    def step(i: jax.Array, x: jax.Array) -> jax.Array:
        s, s_next = settings.schedule[i], settings.schedule[i + 1]
        velocity = model(x, jnp.full(x.shape[:2], s, jnp.float32), segments)[0]
        return euler_update(x, velocity, s, s_next, z0, settings.guidance, origin, penalty)

    return origin + jax.lax.fori_loop(0, settings.steps, step, noise)  # (B, F, h, w, C)


def commit_chunk(
    model: Callable,
    config: DiTConfig,
    cache: KVCache,
    latents: jax.Array,
    settings: SessionSettings,
    context_noise: float,
) -> KVCache:
    """Commit clean latents (B, F, h, w, C) frame by frame, as context is committed."""
    for f in range(latents.shape[1]):
        cache = commit_context(
            model,
            config,
            cache,
            latents[:, f : f + 1],
            settings.window,
            settings.anchor_on,
            settings.seed,
            context_noise,
        )
    return cache
