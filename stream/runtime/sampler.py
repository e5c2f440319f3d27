"""Rectified-flow sampling: x_s = (1 - s) x_0 + s eps, v = eps - x_0, Euler from s = 1 to 0."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from stream.runtime.anchor import Penalty, anchor_penalty, restoring_force


def time_schedule(steps: int, shift: float) -> np.ndarray:
    """steps + 1 diffusion times from 1 down to 0; shift > 1 spends more of them at high noise."""
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1")
    t = np.linspace(1.0, 0.0, steps + 1)
    return (shift * t / (1.0 + (shift - 1.0) * t)).astype(np.float32)


def euler_update(
    x: jax.Array,
    velocity: jax.Array,
    s: jax.Array,
    s_next: jax.Array,
    z0: jax.Array,
    guidance: jax.Array,
    origin: jax.Array,
    penalty: Penalty = anchor_penalty,
) -> jax.Array:
    """One Euler step of x (B, F, h, w, C), relative to origin (B, 1, h, w, C), from time s to
    s_next (< s).

    The guidance anchor adds lambda * grad C(x0_hat, z_0) to the velocity, evaluated at the
    current estimate of the clean frames, so the step moves the chunk down the penalty's slope
    (C: the anchor's penalty; the drift lab passes others). At strength 0 the force adds exactly
    0.0 to the velocity, so the output's bits do not change.
    """
    x0_hat = origin + x - s * velocity  # (B, F, h, w, C)
    velocity = velocity + guidance * restoring_force(x0_hat, z0, penalty)
    return x + (s_next - s) * velocity


def shrink_change(x: jax.Array, last_latent: jax.Array, scale: jax.Array | float) -> jax.Array:
    """A generated chunk (B, F, h, w, C) with its change from the last latent frame before it
    (B, 1 or F, h, w, C) scaled by `scale` in (0, 1]; scale 1 keeps x's own bits."""
    shrunk = last_latent + scale * (x - last_latent)  # (B, F, h, w, C)
    return jnp.where(scale == 1.0, x, shrunk)


def guidance_ramp(generated: jax.Array, ramp_chunks: int) -> jax.Array:
    """The share of the guidance strength the `generated`-th chunk since the last real frame
    gets (1, 2, ...): rising linearly to 1 at ramp_chunks (SamplerConfig.guidance_ramp_chunks),
    1 throughout when ramp_chunks is 0."""
    if ramp_chunks == 0:
        return jnp.float32(1.0)
    return jnp.minimum(1.0, generated.astype(jnp.float32) / ramp_chunks)


def chunk_noise(seed: int, first_frame: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Initial noise of the chunk starting at latent frame `first_frame`: a pure function of
    (seed, position), so how an extension is split into calls does not change it."""
    key = jax.random.fold_in(jax.random.key(seed), first_frame)
    return jax.random.normal(key, shape, jnp.float32)


def flow_origin(last_latent: jax.Array, flow_space: str) -> jax.Array:
    """What the flow's sample is relative to, (B, 1, h, w, C): the last latent frame before the
    chunk when the flow generates the change from it (DiTConfig.flow_space), else zero."""
    return last_latent if flow_space == "residual" else jnp.zeros_like(last_latent)


CONTEXT_STREAM = 1  # folded into a position's key: context noise never equals a chunk's noise


def noised_context(
    latent: jax.Array, seed: jax.Array, position: jax.Array, level: float
) -> tuple[jax.Array, jax.Array]:
    """A latent frame (B, 1, h, w, C) about to be committed at latent `position`, as training
    shows context: noised to diffusion time `level`, except the anchor z_0 (position 0), which is
    always exact. The noise is a pure function of (seed, position), like chunk_noise.

    Returns the noised frame (B, 1, h, w, C) and its diffusion times (B, 1)."""
    level = jnp.where(position == 0, 0.0, level)
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), position), CONTEXT_STREAM)
    eps = jax.random.normal(key, latent.shape, latent.dtype)
    s = jnp.full(latent.shape[:2], level, jnp.float32)  # (B, 1)
    return (1.0 - level) * latent + level * eps, s
