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
it (the backtest's predicted chunk at the session's change scale, decoded, detail carried) is
made, and the session keeps running sums for the least-squares weights (alpha, beta), each in
[0, 1], of

    frame = last + alpha * (stream - last) + beta * (smoothed - last),

per horizon: the chunk's first latent frame (frames 1-4 ahead) is tested on this group, its
second (frames 5-8) is kept and tested on the next group, and its weights serve every frame
further ahead. A model whose changes come true only over several frames is then not held to
what it showed 4 frames ahead. Until a test has been made, (1, 0): the stream as is. Motion
continuation, when on, moves the blended frames afterwards with its own fit.

Measured with the default model (README, "The predictor"): on 18 clips its DiT never saw (2
validation, 16 of batch 3) +0.16 / +0.17 / +0.11 dB at 1 / 2 / 4 chunks, no clip under its
latent repeat - 0.5 dB (1 / 0 / 1 without); on the 22 training clips +0.05 / +0.04 / +0.01;
the validation worlds level. With the first horizon's weights for every frame it had lost 0.04
/ 0.12 / 0.14 dB on the training clips. On a fresh batch of 6 clips, judged once, it lost
0.09 / 0.02 dB at 2 / 4 chunks (+0.15 at 1) and one clip fell under its latent repeat - 0.5
dB at 4 chunks, so the default model leaves it off. A session whose stream loses its tests
holds the last frame exactly (motion 0). A push costs one more decoded chunk: 56-67 ms against
37-48 ms without, in two noisy runs on our CPU.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from stream.model.vae import TEMPORAL_FACTOR
from stream.runtime.backtest import DECAY

# Horizons tested, in latent frames ahead of the last real one: the first (frames 1-4) and the
# second (frames 5-8), whose weights serve every frame further ahead.
HORIZONS = 2


class Blend(NamedTuple):
    # Running sums (<a, a>, <a, b>, <b, b>, <a, t>, <b, t>) per horizon, a = stream - last,
    # b = smoothed - last, t = truth - last, (HORIZONS, 5).
    sums: jax.Array
    # The stream's prediction of the real group after the next, kept for its test at the next
    # push: the frames, the smoothed last real frame and the last real frame of its time,
    # (4, S, S, 3), (4, S, S, 3), (S, S, 3); and whether one was made, () bool.
    pending: tuple[jax.Array, jax.Array, jax.Array]
    pending_made: jax.Array


def new_blend(size: int) -> Blend:
    frames = jnp.zeros((TEMPORAL_FACTOR, size, size, 3), jnp.float32)
    return Blend(
        sums=jnp.zeros((HORIZONS, 5), jnp.float32),
        pending=(frames, frames, frames[0]),
        pending_made=jnp.bool_(False),
    )


def add_test(
    sums: jax.Array, stream: jax.Array, smoothed: jax.Array, last: jax.Array, truth: jax.Array
) -> jax.Array:
    """One horizon's sums (5,) after one test: the stream's prediction of a group of real frames
    and the smoothing of the last real frame (G, S, S, 3) each, the last real frame (S, S, 3) and
    the group's real frames (G, S, S, 3)."""
    a, b, t = stream - last, smoothed - last, truth - last  # (G, S, S, 3) each
    terms = [jnp.sum(a * a), jnp.sum(a * b), jnp.sum(b * b), jnp.sum(a * t), jnp.sum(b * t)]
    return DECAY * sums + jnp.stack(terms)  # (5,)


def tested(
    state: Blend,
    made: jax.Array,
    stream: jax.Array,
    smoothed: jax.Array,
    last: jax.Array,
    truth: jax.Array,
) -> Blend:
    """The state after a push of real frames truth (G, S, S, 3): the stream's prediction of
    them made now (`made`: whether there was context to make it), frames (2 * 4, S, S, 3) for
    this group and the next, with the smoothed last real frame (4, S, S, 3) and the last real
    frame (S, S, 3) they were made with, tests the first horizon; the prediction kept from the
    push before tests the second."""
    group = truth.shape[0]
    first = add_test(state.sums[0], stream[:group], smoothed[-group:], last, truth)
    kept_stream, kept_smoothed, kept_last = state.pending
    second = add_test(state.sums[1], kept_stream[-group:], kept_smoothed[-group:], kept_last, truth)
    sums = jnp.stack(
        [
            jnp.where(made, first, state.sums[0]),
            jnp.where(state.pending_made, second, state.sums[1]),
        ]
    )  # (HORIZONS, 5)
    pending = (stream[TEMPORAL_FACTOR:], smoothed, last)
    return Blend(sums=sums, pending=pending, pending_made=made)


def fitted_weights(sums: jax.Array) -> jax.Array:
    """(alpha, beta) (2,) minimising one horizon's test errors (sums (5,)) with both in [0, 1]:
    the unclipped solution if it lies in the square, else the best of the four edges' clipped
    1-D fits; (1, 0) until a test has been made."""
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


def frame_weights(sums: jax.Array, first: jax.Array, count: int) -> jax.Array:
    """(alpha, beta) (count, 2) for `count` frames ahead of the last real one from `first` on
    (1 for the first): the first horizon's fit for frames 1-4, the second's further ahead (the
    first's until the second has been tested)."""
    near = fitted_weights(sums[0])  # (2,)
    far = jnp.where(jnp.any(sums[1] != 0), fitted_weights(sums[1]), near)  # (2,)
    ahead = first + jnp.arange(count)  # (count,)
    return jnp.where((ahead <= TEMPORAL_FACTOR)[:, None], near, far)  # (count, 2)


def blend(frames: jax.Array, smoothed: jax.Array, last: jax.Array, weights: jax.Array) -> jax.Array:
    """frames (T, S, S, 3) mixed with the smoothed last real frame (T or 1, S, S, 3) and the last
    real frame (S, S, 3) by weights (alpha, beta) per frame (T, 2); (1, 0) keeps a frame's own
    bits."""
    alpha, beta = weights[:, 0, None, None, None], weights[:, 1, None, None, None]  # (T, 1, 1, 1)
    mixed = last + alpha * (frames - last) + beta * (smoothed - last)  # (T, S, S, 3)
    return jnp.where((alpha == 1.0) & (beta == 0.0), frames, mixed)
