"""Backtest: a session's change scale fitted on its own real frames.

How much of the DiT's predicted change is real differs from footage to footage: on still footage
it never saw, the model invents motion (all of its change is error), on footage like its
training data most of it is right. A fixed change scale (SamplerConfig.change_scale) is one
compromise for all. Every real latent frame is a free test instead: before it is committed, the
model predicts it from the context before it (the first frame of the chunk that would start
there, as the first chunk after a push is made), and the session keeps running sums of
<d, t> and <d, d>, d the predicted and t the true change from the latent frame before. The scale
that would have served those frames best is the least-squares fit <d, t> / <d, d>, clipped to
[0, 1]: 0 where the model's changes were noise (so it repeats the last frame), near 1 where they
were right. The sums decay, so a session that cuts to other footage refits within a few frames.

The first test is of latent frame 1, whose context is z_0 alone. Skipping it too (the step from
a frame encoded alone to the first group of four is unlike later ones) won 0.4 / 0.8 dB at 1 / 2
chunks on the validation clips but held them too still (motion 0.48x the truth's at 4 chunks).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Weight of the older sums at each new real latent frame (4 pixel frames): the fit remembers about
# 1 / (1 - DECAY) = 2 latent frames, half a second at 16 fps. Of 0.25 / 0.5 / 0.75 / 0.9 on the
# validation clips, longer memories lost on the clip whose motion changes (from 0.5 to 0.9: 2.0
# / 3.4 dB at 1 / 2 chunks, mean over the clips) and 0.25 let the motion at 4 chunks fall under
# half the truth's.
DECAY = 0.5


def new_sums() -> jax.Array:
    """The running sums (<d, t>, <d, d>) of a session with no real frame tested yet, (2,)."""
    return jnp.zeros((2,), jnp.float32)


def add_test(
    sums: jax.Array, predicted: jax.Array, previous: jax.Array, actual: jax.Array
) -> jax.Array:
    """The sums (2,) after one test: the model's prediction of a latent frame, the latent frame
    before it and the actual one, each (h, w, C)."""
    d = predicted - previous  # (h, w, C)
    t = actual - previous  # (h, w, C)
    return DECAY * sums + jnp.stack([jnp.sum(d * t), jnp.sum(d * d)])  # (2,)


def fitted_scale(sums: jax.Array, fallback: jax.Array) -> jax.Array:
    """The change scale the sums (2,) call for, in [0, 1]; `fallback` (the session's fixed scale)
    until a test has been made (or the model predicted no change at all)."""
    dt, dd = sums[0], sums[1]
    tested = dd > 1e-12
    return jnp.where(tested, jnp.clip(dt / jnp.where(tested, dd, 1.0), 0.0, 1.0), fallback)
