"""The guidance anchor's strength, swept: what the restoring force lambda * grad C is against the
model's velocity, and what each lambda does to error, identity and motion.

Two penalties C: "stats", the per-channel mean and standard deviation of a latent frame against
z_0's (the engine's guidance anchor, stream/runtime/anchor.py), and "lowfreq", defined here for
the sweep alone: each channel averaged over LOWFREQ_GRID x LOWFREQ_GRID blocks. It keeps the
coarse layout too, so it restores more than colour and contrast, and resists motion that moves
content across blocks:

    C_low(z, z_0) = mean_{block, c} (pool(z) - pool(z_0))^2
 The force is read at the first Euler step of a chunk, where the
sampler applies it: grad C at the clean estimate x0_hat = origin + x - s v of the unguided
velocity v, so ||lambda grad C|| / ||v|| says how much of the step the anchor decides.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from stream.lab.chunk_map import window_cache
from stream.runtime.anchor import Penalty, anchor_penalty, restoring_force
from stream.runtime.chunk import SessionSettings
from stream.runtime.kv_cache import cached_segments
from stream.runtime.sampler import flow_origin

LOWFREQ_GRID = 2  # blocks per side of the low-frequency penalty: quarters of the frame
DEFAULT_LAMBDAS: tuple[float, ...] = (0.0, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)


def _block_means(z: jax.Array) -> jax.Array:
    """(..., h, w, C) -> (..., LOWFREQ_GRID, LOWFREQ_GRID, C): each channel's mean per block."""
    *lead, h, w, c = z.shape
    g = LOWFREQ_GRID
    blocks = z.reshape(*lead, g, h // g, g, w // g, c)  # (..., g, h/g, g, w/g, C)
    return blocks.mean(axis=(-4, -2))


def lowfreq_penalty(z: jax.Array, z0: jax.Array) -> jax.Array:
    """C_low per frame: z (..., h, w, C) against z0 (h, w, C) or broadcastable -> (...)."""
    return ((_block_means(z) - _block_means(z0)) ** 2).mean(axis=(-3, -2, -1))


PENALTY_FUNCTIONS: dict[str, Penalty] = {"stats": anchor_penalty, "lowfreq": lowfreq_penalty}
PENALTIES: tuple[str, ...] = tuple(PENALTY_FUNCTIONS)


def check_penalty(penalty: str) -> str:
    if penalty not in PENALTIES:
        raise ValueError(f"penalty={penalty!r} is not a penalty; accepted: {', '.join(PENALTIES)}")
    return penalty


class GuidanceForce:
    """Norms of the unguided velocity and of each penalty's gradient at a chunk's first step,
    compiled once per engine: (state (W, h, w, C), z0, noise, settings, next_frame) ->
    {"velocity": ||v||, "stats": ||grad C||, "lowfreq": ||grad C_low||}."""

    def __init__(self, engine: Any):
        self.engine = engine
        config = engine.config.dit
        context_noise = engine.config.sampler.context_noise
        graphdef = engine.dit_def

        @jax.jit
        def norms(params, state, z0, noise, settings: SessionSettings, next_frame):
            model = nnx.merge(graphdef, params)
            cache = window_cache(model, config, state, z0, settings, next_frame, context_noise)
            segments = cached_segments(
                config, cache, noise.shape[1], settings.window, settings.anchor_on
            )
            s = settings.schedule[0]
            velocity = model(noise, jnp.full(noise.shape[:2], s, jnp.float32), segments)[0]
            origin = flow_origin(state[None, -1:], config.flow_space)  # (1, 1, h, w, C)
            x0_hat = origin + noise - s * velocity  # (1, F, h, w, C)
            return (
                jnp.linalg.norm(velocity),
                jnp.linalg.norm(restoring_force(x0_hat, z0, anchor_penalty)),
                jnp.linalg.norm(restoring_force(x0_hat, z0, lowfreq_penalty)),
            )

        self._norms = norms

    def __call__(
        self,
        state: jax.Array,
        z0: jax.Array,
        noise: jax.Array,
        settings: SessionSettings,
        next_frame: int,
    ) -> dict[str, float]:
        params = self.engine.dit_params
        v, stats, low = self._norms(params, state, z0, noise, settings, jnp.int32(next_frame))
        return {"velocity": float(v), "stats": float(stats), "lowfreq": float(low)}


def force_ratio(force_rows: list[dict[str, Any]], penalty: str, strength: float) -> float:
    """Mean over measurements of strength * ||grad C|| / ||v|| for one penalty."""
    check_penalty(penalty)
    ratios = [strength * row[penalty] / row["velocity"] for row in force_rows if row["velocity"]]
    return float(np.mean(ratios)) if ratios else float("nan")
