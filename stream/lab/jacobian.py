"""The spectral radius of a rollout step's Jacobian, by power iteration on Jacobian-vector products.

No dense Jacobian is ever built: v <- J v / ||J v|| needs only jax.jvp, so the estimate scales to
the full latent state (window x h x w x C dimensions). For large n, ||J^n v|| ~ rho(J)^n, so rho is
read off as the geometric-mean growth per application over the later iterations, after the
vector has aligned with the dominant eigenvectors (a complex pair rotates but grows at |lambda|).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from stream.runtime.chunk import SessionSettings, commit_chunk, denoise_chunk
from stream.runtime.kv_cache import init_cache


def power_iteration(
    jvp: Callable[[jax.Array], jax.Array],
    shape: tuple[int, ...],
    iterations: int = 20,
    key: jax.Array | None = None,
) -> float:
    """Estimate rho(J) from a function v -> J v on vectors of the given shape."""
    key = jax.random.key(0) if key is None else key
    v = jax.random.normal(key, shape, jnp.float32)
    v = v / jnp.linalg.norm(v)
    log_growth = []
    for _ in range(iterations):
        jv = jvp(v)
        norm = jnp.linalg.norm(jv)
        log_growth.append(float(jnp.log(norm)))
        v = jv / norm
    return float(np.exp(np.mean(log_growth[iterations // 2 :])))


def spectral_radius(
    fn: Callable[[jax.Array], jax.Array],
    x: jax.Array,
    iterations: int = 20,
    key: jax.Array | None = None,
) -> float:
    """Estimate rho(dfn/dx at x) for fn mapping an array to an array of the same shape."""
    jvp = jax.jit(lambda vector: jax.jvp(fn, (x,), (vector,))[1])
    return power_iteration(jvp, x.shape, iterations, key)


def chunk_map_jvp(engine, window: int):
    """A compiled J v of the one-chunk map F of a rollout.

    F takes the window of latent frames the model conditions on, (W, h, w, C), ending just
    before frame `next_frame`, to the window one chunk later. The anchor z0, the sampler's noise,
    the context noise (from the seed, as the engine commits), the session's settings (their window
    must be `window`) and the positions are held fixed, so F is deterministic and J = dF/dx
    includes the shift of the window as well as the model's response. Compiled once per window;
    returns jvp(state, tangent, z0, noise, settings, next_frame) -> J tangent.
    """
    config = engine.config.dit
    context_noise = engine.config.sampler.context_noise
    graphdef = engine.dit_def

    def step(params, state, z0, noise, settings: SessionSettings, next_frame):
        model = nnx.merge(graphdef, params)
        anchor = z0[None, None]  # (1, 1, h, w, C): the anchor slot, committed exact
        cache = commit_chunk(model, config, init_cache(config), anchor, settings, context_noise)
        cache = cache._replace(length=next_frame - window)
        cache = commit_chunk(model, config, cache, state[None], settings, context_noise)
        last = state[None, -1:]  # (1, 1, h, w, C)
        x = denoise_chunk(model, config, cache, noise, last, settings, z0)
        return jnp.concatenate([state[x.shape[1] :], x[0]], axis=0)  # (W, h, w, C)

    @jax.jit
    def jvp(params, state, tangent, z0, noise, settings, next_frame):
        def fn(x):
            return step(params, x, z0, noise, settings, next_frame)

        return jax.jvp(fn, (state,), (tangent,))[1]

    def apply(state, tangent, z0, noise, settings: SessionSettings, next_frame: int):
        if next_frame <= window:
            raise ValueError(f"next_frame={next_frame} must exceed window={window}")
        if int(settings.window) != window:
            raise ValueError(f"settings.window={int(settings.window)} must be {window}")
        return jvp(engine.dit_params, state, tangent, z0, noise, settings, jnp.int32(next_frame))

    return apply
