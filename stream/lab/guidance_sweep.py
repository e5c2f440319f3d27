"""The guidance anchor's strength, swept: what the restoring force lambda * grad C is against the
model's velocity, and what each lambda does to error, identity and motion.

Two penalties C (stream/runtime/anchor.py): "stats", the per-channel mean and standard deviation
of a latent frame against z_0's (the engine's guidance anchor), and "lowfreq", the channels'
block means over a coarse grid. The force is read at the first Euler step of a chunk, where the
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
from stream.runtime.anchor import anchor_penalty, lowfreq_penalty, restoring_force
from stream.runtime.chunk import SessionSettings
from stream.runtime.kv_cache import cached_segments
from stream.runtime.sampler import flow_origin

PENALTIES: tuple[str, ...] = ("stats", "lowfreq")
DEFAULT_LAMBDAS: tuple[float, ...] = (0.0, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)


def check_penalty(penalty: str) -> str:
    if penalty not in PENALTIES:
        raise ValueError(f"penalty={penalty!r} is not a penalty; accepted: {', '.join(PENALTIES)}")
    return penalty


def strengths(penalty: str, strength: float) -> tuple[float, float]:
    """(guidance, lowfreq_guidance) of a session that applies `penalty` at `strength`."""
    return (strength, 0.0) if check_penalty(penalty) == "stats" else (0.0, strength)


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
