"""Blend fit: each session's stream mixed with the last real frame and its VAE smoothing, by
weights fitted on its own real frames.

The change-scale fit (backtest.py) judges the DiT's change in latent space, where the VAE's
losses do not show: on footage the VAE reconstructs badly, a predicted change that is half right
in latents still costs pixels, because where the prediction moves, detail carry-over (detail.py)
gives way to the soft decoded frame. Which of three answers predicts a session's next frames best
also differs between footage: the stream itself, the last real frame repeated (the user's
trivial answer), or the decoder's smoothing of it (the model's "no change", which beats the
sharp frame on flickering footage whose fine detail does not persist). So every real group of
frames is a test of all three in pixels: before it is committed, the stream's own prediction of
it (the backtest's predicted latent frame at the session's change scale, decoded, detail
carried) is made, and the session keeps running sums for the least-squares weights (alpha,
beta), each in [0, 1], of

    frame = last + alpha * (stream - last) + beta * (smoothed - last),

which every generated frame then gets. Until a test has been made, (1, 0): the stream as is.
Motion continuation, when on, moves the blended frames afterwards with its own fit.

Measured with the default model (README, "The predictor"): on 18 clips its DiT never saw (2
validation, 16 of batch 3) +0.10 / +0.05 / -0.02 dB at 1 / 2 / 4 chunks, at or above
repeat-last on 16 / 18 / 18 clips instead of 13 / 15 / 16, and the flickering clip that fell
under its latent repeat - 0.5 dB now at the line; on the 22 training clips, where the DiT's
changes come true at longer horizons than a test of 4 frames sees, -0.04 / -0.12 / -0.14 dB.
A session whose stream loses its tests streams the last frame exactly (motion 0). So the
default model leaves it off. A push costs one more decoded latent frame (10-12 ms on our CPU).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from stream.runtime.backtest import DECAY


def new_sums() -> jax.Array:
    """The running sums (<a, a>, <a, b>, <b, b>, <a, t>, <b, t>) of a session with no test yet,
    a = stream - last, b = smoothed - last, t = truth - last; (5,)."""
    return jnp.zeros((5,), jnp.float32)


def add_test(
    sums: jax.Array, stream: jax.Array, smoothed: jax.Array, last: jax.Array, truth: jax.Array
) -> jax.Array:
    """The sums (5,) after one test: the stream's prediction of a group of real frames and the
    smoothing of the last real frame (G, S, S, 3) each, the last real frame (S, S, 3) and the
    group's real frames (G, S, S, 3)."""
    a, b, t = stream - last, smoothed - last, truth - last  # (G, S, S, 3) each
    terms = [jnp.sum(a * a), jnp.sum(a * b), jnp.sum(b * b), jnp.sum(a * t), jnp.sum(b * t)]
    return DECAY * sums + jnp.stack(terms)  # (5,)


def fitted_weights(sums: jax.Array) -> jax.Array:
    """(alpha, beta) (2,) minimising the tests' squared error with both in [0, 1]: the unclipped
    solution if it lies in the square, else the best of the four edges' clipped 1-D fits; (1, 0)
    until a test has been made."""
    aa, ab, bb, at, bt = sums[0], sums[1], sums[2], sums[3], sums[4]
    tiny = 1e-12

    def ratio(num: jax.Array, den: jax.Array) -> jax.Array:
        return jnp.clip(num / jnp.where(den > tiny, den, 1.0), 0.0, 1.0) * (den > tiny)

    det = aa * bb - ab * ab
    solvable = det > tiny * (aa * bb + tiny)
    safe = jnp.where(solvable, det, 1.0)
    alpha, beta = (at * bb - bt * ab) / safe, (bt * aa - at * ab) / safe
    inside = solvable & (alpha >= 0) & (alpha <= 1) & (beta >= 0) & (beta <= 1)
    one, zero = jnp.float32(1.0), jnp.float32(0.0)
    candidates = jnp.stack(
        [
            jnp.stack([one, zero]),  # the stream as is: kept on ties
            jnp.stack([ratio(at, aa), zero]),
            jnp.stack([ratio(at - ab, aa), one]),
            jnp.stack([zero, ratio(bt, bb)]),
            jnp.stack([one, ratio(bt - ab, bb)]),
            jnp.where(inside, jnp.stack([alpha, beta]), jnp.stack([one, zero])),
        ]
    )  # (6, 2)
    x, y = candidates[:, 0], candidates[:, 1]  # (6,) each
    error = x * x * aa + 2 * x * y * ab + y * y * bb - 2 * x * at - 2 * y * bt  # (6,)
    return candidates[jnp.argmin(error)]  # (2,)


def blend(frames: jax.Array, smoothed: jax.Array, last: jax.Array, weights: jax.Array) -> jax.Array:
    """frames (T, S, S, 3) mixed with the smoothed last real frame (T or 1, S, S, 3) and the last
    real frame (S, S, 3) by weights (alpha, beta) (2,); (1, 0) keeps the frames' own bits."""
    mixed = last + weights[0] * (frames - last) + weights[1] * (smoothed - last)  # (T, S, S, 3)
    return jnp.where((weights[0] == 1.0) & (weights[1] == 0.0), frames, mixed)
