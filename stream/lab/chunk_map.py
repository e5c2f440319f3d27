"""The one-chunk map F of a rollout as a pure function of its window, and its derivatives.

F takes the window of latent frames the model conditions on, (W, h, w, C), ending just before
frame `next_frame`, to the window one chunk later. The anchor z0, the sampler's noise, the context
noise (from the seed, as the engine commits), the session's settings (their window must be
`window`) and the positions are held fixed, so F is deterministic and J = dF/dx includes the shift
of the window as well as the model's response. It runs the engine's own denoise_chunk and
commit_chunk, so what the lab differentiates is what the engine runs, with the guidance anchor at
the session's full strength: the map of a rollout past the sampler's guidance ramp.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from stream.config import DiTConfig
from stream.runtime.chunk import SessionSettings, commit_chunk, denoise_chunk
from stream.runtime.kv_cache import KVCache, init_cache
from stream.runtime.sampler import shrink_change


def window_cache(
    model: Callable,
    config: DiTConfig,
    state: jax.Array,
    z0: jax.Array,
    settings: SessionSettings,
    next_frame: jax.Array,
    context_noise: float,
) -> KVCache:
    """The cache a timeline holds before `next_frame`: z0 (h, w, C) in the anchor slot and the
    window state (W, h, w, C) committed at its true positions."""
    window = state.shape[0]
    anchor = z0[None, None]  # (1, 1, h, w, C): the anchor slot, committed exact
    cache = commit_chunk(model, config, init_cache(config), anchor, settings, context_noise)
    cache = cache._replace(length=next_frame - window)
    return commit_chunk(model, config, cache, state[None], settings, context_noise)


class ChunkMap:
    """F and its derivatives, compiled once per window for one engine.

    - apply(state, z0, noise, settings, next_frame) -> F(state), (W, h, w, C);
    - jvp(state, tangent, z0, noise, settings, next_frame) -> J tangent, (W, h, w, C);
    - linearized(state, tangents, ...) -> (F(state) (W, h, w, C), J tangents (M, W, h, w, C)):
      the value and M directions in one program (theory, Lyapunov exponents).
    """

    def __init__(self, engine: Any, window: int):
        self.engine = engine
        self.window = window
        config = engine.config.dit
        context_noise = engine.config.sampler.context_noise
        change_scale = engine.config.sampler.change_scale
        graphdef = engine.dit_def

        def step(params, state, z0, noise, settings: SessionSettings, next_frame):
            model = nnx.merge(graphdef, params)
            cache = window_cache(model, config, state, z0, settings, next_frame, context_noise)
            last = state[None, -1:]  # (1, 1, h, w, C)
            x = denoise_chunk(model, config, cache, noise, last, settings, z0)  # (1, F, h, w, C)
            x = shrink_change(x, last, change_scale)  # the model's fixed scale, not a session's fit
            return jnp.concatenate([state[x.shape[1] :], x[0]], axis=0)  # (W, h, w, C)

        apply = jax.jit(step)

        @jax.jit
        def jvp(params, state, tangent, z0, noise, settings, next_frame):
            def fn(x):
                return step(params, x, z0, noise, settings, next_frame)

            return jax.jvp(fn, (state,), (tangent,))[1]

        @jax.jit
        def linearized(params, state, tangents, z0, noise, settings, next_frame):
            def fn(x):
                return step(params, x, z0, noise, settings, next_frame)

            value, linear = jax.linearize(fn, state)
            return value, jax.vmap(linear)(tangents)

        self._apply, self._jvp, self._linearized = apply, jvp, linearized

    def _check(self, settings: SessionSettings, next_frame: int) -> None:
        if next_frame <= self.window:
            raise ValueError(f"next_frame={next_frame} must exceed window={self.window}")
        if int(settings.window) != self.window:
            raise ValueError(f"settings.window={int(settings.window)} must be {self.window}")

    def apply(
        self,
        state: jax.Array,
        z0: jax.Array,
        noise: jax.Array,
        settings: SessionSettings,
        next_frame: int,
    ) -> jax.Array:
        self._check(settings, next_frame)
        params = self.engine.dit_params
        return self._apply(params, state, z0, noise, settings, jnp.int32(next_frame))

    def jvp(
        self,
        state: jax.Array,
        tangent: jax.Array,
        z0: jax.Array,
        noise: jax.Array,
        settings: SessionSettings,
        next_frame: int,
    ) -> jax.Array:
        self._check(settings, next_frame)
        params = self.engine.dit_params
        return self._jvp(params, state, tangent, z0, noise, settings, jnp.int32(next_frame))

    def linearized(
        self,
        state: jax.Array,
        tangents: jax.Array,
        z0: jax.Array,
        noise: jax.Array,
        settings: SessionSettings,
        next_frame: int,
    ) -> tuple[jax.Array, jax.Array]:
        self._check(settings, next_frame)
        params = self.engine.dit_params
        return self._linearized(params, state, tangents, z0, noise, settings, jnp.int32(next_frame))
