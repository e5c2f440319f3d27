"""Motion continuation: predicted frames moved on along the motion of the real frames before.

Detail carry-over (detail.py) streams the last real frame wherever the DiT predicts no change,
and on footage it never saw the DiT's changes are mostly noise, so the stream held still where
the footage moves. Continuing the measured motion is the classic prediction a codec makes: a
dense flow (Lucas-Kanade, coarse to fine) between the last real frames of two pushes (8 frames
apart) is continued, fading, and every predicted frame is moved along it as far as it is ahead,
so a pan or a walking person keeps moving where the DiT has nothing to add. The whole frame
moves (the DiT's prediction with the carried detail), so the two never show side by side.

Like the change scale, the motion is scaled per session by a backtest on its own real frames
(backtest.py's fit): at each push, the flow measured one push earlier predicts the new last
frame from the one before, and the least-squares scale that would have served those tests
best, in [0, 1], scales the flow; 0 until a test was made, so footage whose motion does not
continue (or a session of one push) streams exactly what it did without. The DiT's own share of
the change (its change scale, fitted or fixed) is taken off the top: both fits explain the same
true change, and where the DiT's changes come true (footage like its training data) the flow
would move its moved content a second time.

Measured with the default model against the same model without it (README, "The predictor"):
on the 22 training clips (the flow learns nothing from them) +0.49 / 0.46 / 0.26 dB at 1 / 2 /
4 chunks, motion 0.24 / 0.27 / 0.36x the truth's instead of 0.00 / 0.20 / 0.32; the two
validation clips level; the validation worlds +0.6 / 0.1 / -0.15 dB at 1 / 4 / 16 chunks; the
16 clips of batch 3 and the 2 validation clips +0.5 / 0.4 / 0.3. On the card's held-out clips
+0.6 dB at 1 chunk and -0.1 at 2 and 4: a talking head's motion turns back within half a
second, and the stream falls under that clip's latent repeat - 0.5 dB at 4 chunks. So the
default model leaves it off.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from stream.model.vae import TEMPORAL_FACTOR
from stream.runtime import backtest

# Frames between the last real frames of consecutive pushes (one latent frame each), and between
# the two the flow is measured on: those of the last two pushes.
PUSH_FRAMES = TEMPORAL_FACTOR
SPAN = 2 * PUSH_FRAMES
# Frames over which the continued motion fades: frame k ahead is moved PERSISTENCE * (1 -
# exp(-k / PERSISTENCE)) frames' worth of it. Real motion seldom keeps its course for long (a
# gesture ends, a walker turns): on the 22 training and 2 validation clips, the flow alone (no
# DiT) continued linearly lost on 8 of them at 4 chunks; fading over 16 frames kept the gain at
# 1 and 2 chunks and lost on 1 (8 faded too much at 1-2 chunks, 32 too little at 4, and
# stopping it at once after 12 frames froze the picture).
PERSISTENCE = 16.0
_BLUR = 1.0  # pixels: the images' smoothing at the finest level (the coarse level doubles it)
_WINDOW = 4.0  # pixels: the Gaussian window over which a flow vector is solved
_LEVELS = 2
_ITERATIONS = 5


@functools.cache  # built at trace time, 54 times per flow otherwise
def _blur_matrix(size: int, sigma: float) -> np.ndarray:
    """(S, S) matrix M with M @ x the Gaussian smoothing of the columns of x (S, ...), edges
    mirrored. The flow blurs 54 images per push; as pairs of small matmuls they took 1.6 ms on
    our CPU against 25 ms as per-row 1D convolutions (the same values to 1e-7)."""
    radius = int(4 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * np.square(offsets / sigma))
    kernel /= kernel.sum()  # (2r + 1,)
    matrix = np.zeros((size, size), np.float32)
    for i in range(size):
        # Mirroring repeats with period 2S: ..., S-1 .. 0, 0 .. S-1, S-1 .. 0, ...
        source = np.mod(i + offsets, 2 * size)  # (2r + 1,)
        source = np.where(source >= size, 2 * size - 1 - source, source)
        np.add.at(matrix[i], source, kernel)
    return matrix


def _gaussian_blur(image: jax.Array, sigma: float) -> jax.Array:
    """image (S, S) smoothed by a separable Gaussian, edges mirrored."""
    matrix = jnp.asarray(_blur_matrix(image.shape[0], sigma))  # (S, S)
    return matrix @ image @ matrix.T  # (S, S)


def warp(image: jax.Array, flow: jax.Array) -> jax.Array:
    """image (S, S) or (S, S, 3) with its content moved by flow (S, S, 2) pixels (rows,
    columns), sampled bilinearly at (y - dy, x - dx), edges repeated. A zero flow returns the
    image's own bits."""
    size = image.shape[0]
    grid = jnp.arange(size, dtype=jnp.float32)
    rows = jnp.clip(grid[:, None] - flow[..., 0], 0, size - 1)  # (S, S)
    cols = jnp.clip(grid[None, :] - flow[..., 1], 0, size - 1)  # (S, S)

    def sample(channel: jax.Array) -> jax.Array:
        return jax.scipy.ndimage.map_coordinates(channel, [rows, cols], order=1, mode="nearest")

    if image.ndim == 2:
        return sample(image)
    return jax.vmap(sample, in_axes=-1, out_axes=-1)(image)  # (S, S, 3)


def _neighbourhood_sum(x: jax.Array) -> jax.Array:
    """x (S, S, ...) summed over each pixel's 3x3 neighbourhood, nothing beyond the edges."""
    size = x.shape[0]
    padded = jnp.pad(x, ((1, 1), (1, 1)) + ((0, 0),) * (x.ndim - 2))  # (S + 2, S + 2, ...)
    return sum(padded[i : i + size, j : j + size] for i in range(3) for j in range(3))


def splat(image: jax.Array, flow: jax.Array) -> jax.Array:
    """image (S, S, 3) with every pixel carried forward by its own flow (S, S, 2) pixels (rows,
    columns) and spread bilinearly over the four pixels around where it lands; where several
    land, their weighted mean. A pixel that too little landed on, a crack where the motion
    spreads content apart, is completed from what landed around it; where nothing landed
    nearby either (background a moving object uncovers, the edge a pan leaves) the image keeps
    its own. A zero flow returns the image's own bits.

    The flow lives on the grid of the frame it was measured onto, the frame being continued, so
    forward is the consistent direction: sampling backward reads the flow at the wrong pixel,
    and beside a moving head it folds the still background into a streak. On the 40 training,
    validation and batch-3 clips (pixels alone, no model; /work/stream-runs/diag11/
    splat_product.py) the continuation gained 0.03 / 0.07 / 0.07 dB over the backward warp at 1 /
    2 / 4 chunks (0.77 / 0.79 / 0.59 over repeat-last), clips losing to repeat-last at 4 chunks
    9 instead of 11. Letting the faster of two colliding pixels win (weights exp(a |flow|), a
    moving object in front) lost (splat_probe.py): a = 0.3 / 1 / 4 gave -0.02 / -0.02 / -0.9 dB
    at 4 chunks against the plain mean. Filling cracks with the unmoved image instead scored the
    same (+0.01 dB) but left a speckle of old and moved pixels where content spreads (a head
    turning towards the camera).
    """
    size, channels = image.shape[0], image.shape[-1]
    grid = jnp.arange(size, dtype=jnp.float32)
    rows = grid[:, None] + flow[..., 0]  # (S, S) where each pixel lands
    cols = grid[None, :] + flow[..., 1]  # (S, S)
    top, left = jnp.floor(rows), jnp.floor(cols)
    colour = jnp.zeros((size * size, channels), jnp.float32)  # (S*S, 3)
    weight = jnp.zeros((size * size,), jnp.float32)  # (S*S,)
    for row in (top, top + 1):
        for col in (left, left + 1):
            share = (1.0 - jnp.abs(rows - row)) * (1.0 - jnp.abs(cols - col))  # (S, S)
            inside = (row >= 0) & (row < size) & (col >= 0) & (col < size)
            share = jnp.where(inside, share, 0.0).reshape(-1)  # (S*S,)
            target = (
                (jnp.clip(row, 0, size - 1) * size + jnp.clip(col, 0, size - 1))
                .astype(jnp.int32)
                .reshape(-1)
            )  # (S*S,)
            colour = colour.at[target].add(share[:, None] * image.reshape(-1, channels))
            weight = weight.at[target].add(share)
    colour, weight = colour.reshape(image.shape), weight.reshape(size, size, 1)
    landed = colour / jnp.maximum(weight, 1e-12)  # (S, S, 3)
    near_weight = _neighbourhood_sum(weight)  # (S, S, 1)
    around = _neighbourhood_sum(colour) / jnp.maximum(near_weight, 1e-12)  # (S, S, 3)
    own = jnp.minimum(weight, 1.0)  # (S, S, 1) how fully the pixel was landed on
    moved = jnp.where(own >= 1.0, landed, own * landed + (1.0 - own) * around)  # (S, S, 3)
    reached = jnp.minimum(near_weight, 1.0)  # (S, S, 1) whether anything landed nearby
    return jnp.where(reached >= 1.0, moved, reached * moved + (1.0 - reached) * image)


def _luma(frame: jax.Array) -> jax.Array:
    return frame @ jnp.array([0.299, 0.587, 0.114], jnp.float32)  # (S, S)


def measure_flow(before: jax.Array, after: jax.Array) -> jax.Array:
    """The dense flow (S, S, 2) in pixels that moves frame `before` (S, S, 3) onto `after`:
    after(p) ~ before(p - flow(p)). Lucas-Kanade on smoothed luma, coarse to fine, with a small
    ridge so flat regions (where motion cannot be seen) get none."""
    a, b = _luma(before), _luma(after)  # (S, S)
    flow = jnp.zeros(a.shape + (2,), jnp.float32)  # (S, S, 2)
    for level in reversed(range(_LEVELS)):
        blur, window = _BLUR * 2**level, _WINDOW * 2**level
        a_s, b_s = _gaussian_blur(a, blur), _gaussian_blur(b, blur)
        for _ in range(_ITERATIONS):
            moved = warp(a_s, flow)  # (S, S)
            gy, gx = jnp.gradient(moved)
            it = b_s - moved
            sxx, syy, sxy = (_gaussian_blur(g, window) for g in (gx * gx, gy * gy, gx * gy))
            sxt, syt = (_gaussian_blur(g, window) for g in (gx * it, gy * it))
            ridge = 1e-2 * jnp.mean(sxx + syy) + 1e-12
            sxx, syy = sxx + ridge, syy + ridge
            det = sxx * syy - sxy * sxy
            dx = -(syy * sxt - sxy * syt) / det
            dy = -(sxx * syt - sxy * sxt) / det
            flow = flow + jnp.stack([dy, dx], axis=-1)  # (S, S, 2)
    return flow


class Motion(NamedTuple):
    history: jax.Array  # the last real frames of the last two pushes, older first, (2, S, S, 3)
    flow: jax.Array  # flow per frame measured at the last push, (S, S, 2)
    sums: jax.Array  # the backtest's running sums (backtest.py), (2,)
    pushes: jax.Array  # real pushes seen, () int32


def new_motion(size: int) -> Motion:
    return Motion(
        history=jnp.zeros((2, size, size, 3), jnp.float32),
        flow=jnp.zeros((size, size, 2), jnp.float32),
        sums=backtest.new_sums(),
        pushes=jnp.int32(0),
    )


def observe(motion: Motion, frame: jax.Array) -> Motion:
    """The motion state after a push whose last real frame is `frame` (S, S, 3) in [-1, 1]: the
    flow measured one push earlier is tested on it, then the flow is measured anew."""
    previous = motion.history[1]
    predicted = splat(previous, PUSH_FRAMES * motion.flow)  # (S, S, 3)
    tested = backtest.add_test(motion.sums, predicted, previous, frame)
    # A flow exists from the third push on (it needs a push 8 frames back), a test from the fourth.
    sums = jnp.where(motion.pushes >= 3, tested, motion.sums)  # (2,)
    flow = jnp.where(motion.pushes >= 2, measure_flow(motion.history[0], frame) / SPAN, 0.0)
    return Motion(
        history=jnp.stack([previous, frame]),  # (2, S, S, 3)
        flow=flow,
        sums=sums,
        pushes=motion.pushes + 1,
    )


def moved_on(
    motion: Motion, frames: jax.Array, first: jax.Array, explained: jax.Array | float = 0.0
) -> jax.Array:
    """frames (count, S, S, 3), the predictions `first`, `first` + 1, ... frames after the last
    real one (first: () int32, 1 for the first predicted frame), each moved along the fitted
    motion as far as it is ahead. `explained` in [0, 1]: the share of the change the DiT's own
    prediction carries, left out."""
    scale = backtest.fitted_scale(motion.sums, jnp.float32(0.0)) * (1.0 - explained)
    count = frames.shape[0]
    steps = (first + jnp.arange(count)).astype(jnp.float32)  # (count,)
    ahead = PERSISTENCE * -jnp.expm1(-steps / PERSISTENCE)  # (count,) frames' worth of motion
    return jax.vmap(lambda f, k: splat(f, scale * k * motion.flow))(frames, ahead)
