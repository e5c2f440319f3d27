"""A small causal motion predictor: the next frame is the last frame moved along a predicted flow.

Given the last two frames, the network predicts where each pixel of the next frame comes from in
the last one (a backward flow, in pixels) and how far to trust that (a mask); the next frame is
the last frame warped along the flow, blended by the mask with a fill image (what motion cannot
explain: the last frame itself when the predictor runs alone, the generative model's frame when
they run together). Rolled forward, each predicted frame becomes the next step's last frame, so a
rollout continues its own motion.

Moving pixels instead of painting them makes "no motion" (flow 0) and "real motion" equally cheap
and keeps the picture as sharp as the last frame, which is what voxel-flow predictors such as
DMVFN (Hu et al., CVPR 2023) found. Like DMVFN the flow is estimated coarse to fine: one block of
residual convolutions per scale (1/4, 1/2, full), each seeing the two frames, the last frame
warped by the flow so far, the previous frame warped by it (constant motion makes that the last
frame), the flow so far, and a small cost volume (as in PWC-Net, Sun et al., CVPR 2018): how well
the last frame matches the warped previous frame at each shift within CORRELATION_RADIUS pixels
of that scale, which shows a convolution where the remaining motion is instead of making it
infer a ratio of differences; each block adds a correction to the flow and the mask logit.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

# The mask logit every prediction starts from: sigmoid(3) = 0.95, mostly trust the (initially
# zero) flow, so an untrained predictor repeats the last frame.
_INITIAL_LOGIT = 3.0
CORRELATION_RADIUS = 2  # shifts of -2..2 pixels of each scale, on both axes


@dataclasses.dataclass(frozen=True)
class MotionConfig:
    # Channels and residual convolutions of the per-scale blocks, coarse to fine; block i works at
    # 1 / 2**(len - 1 - i) of the frame size.
    widths: tuple[int, ...] = (48, 32, 24)
    depths: tuple[int, ...] = (4, 3, 2)

    def __post_init__(self) -> None:
        # JSON gives lists; the config is static metadata of the module and must hash.
        object.__setattr__(self, "widths", tuple(self.widths))
        object.__setattr__(self, "depths", tuple(self.depths))
        if len(self.widths) != len(self.depths) or not self.widths:
            raise ValueError(
                f"MotionConfig: widths {self.widths} and depths {self.depths} need one entry per "
                "scale, at least one"
            )

    @property
    def factors(self) -> tuple[int, ...]:
        """Downsampling factor of each block, coarse to fine."""
        return tuple(2 ** (len(self.widths) - 1 - i) for i in range(len(self.widths)))


def warp(image: jax.Array, flow: jax.Array) -> jax.Array:
    """Backward warp: out[p] = image[p + flow[p]], bilinear, coordinates clamped at the edges.

    image (B, H, W, C); flow (B, H, W, 2) as (dx, dy) in pixels. Differentiable in both.
    """
    batch, height, width, channels = image.shape
    rows, cols = jnp.meshgrid(jnp.arange(height), jnp.arange(width), indexing="ij")  # (H, W)
    x = jnp.clip(cols + flow[..., 0], 0, width - 1)  # (B, H, W)
    y = jnp.clip(rows + flow[..., 1], 0, height - 1)  # (B, H, W)
    x0, y0 = jnp.floor(x), jnp.floor(y)
    wx, wy = (x - x0)[..., None], (y - y0)[..., None]  # (B, H, W, 1)
    flat = image.reshape(batch, height * width, channels)  # (B, HW, C)

    def at(yy: jax.Array, xx: jax.Array) -> jax.Array:
        index = jnp.clip(yy, 0, height - 1).astype(jnp.int32) * width + jnp.clip(
            xx, 0, width - 1
        ).astype(jnp.int32)  # (B, H, W)
        gathered = jnp.take_along_axis(flat, index.reshape(batch, -1, 1), axis=1)  # (B, HW, C)
        return gathered.reshape(batch, height, width, channels)

    top = at(y0, x0) * (1 - wx) + at(y0, x0 + 1) * wx
    bottom = at(y0 + 1, x0) * (1 - wx) + at(y0 + 1, x0 + 1) * wx
    return top * (1 - wy) + bottom * wy  # (B, H, W, C)


def average_pool(x: jax.Array, factor: int) -> jax.Array:
    """Average pooling by `factor` of the two axes before the channels: (..., H, W, C) ->
    (..., H/f, W/f, C)."""
    if factor == 1:
        return x
    *lead, h, w, c = x.shape
    return x.reshape(*lead, h // factor, factor, w // factor, factor, c).mean((-4, -2))


def _upsample(x: jax.Array, height: int, width: int) -> jax.Array:
    """Bilinear resize (B, h, w, C) -> (B, H, W, C)."""
    return jax.image.resize(x, (x.shape[0], height, width, x.shape[3]), "bilinear")


class _ScaleBlock(nnx.Module):
    """Residual convolutions at one scale, returning (flow correction (2), logit correction (1))
    in that scale's pixels."""

    def __init__(self, in_channels: int, width: int, depth: int, *, rngs: nnx.Rngs):
        self.stem = nnx.Conv(in_channels, width, (3, 3), rngs=rngs)
        self.body = nnx.List([nnx.Conv(width, width, (3, 3), rngs=rngs) for _ in range(depth)])
        # Zero-initialised: an untrained block changes nothing.
        self.head = nnx.Conv(width, 3, (3, 3), kernel_init=nnx.initializers.zeros_init(), rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = jax.nn.gelu(self.stem(x))
        for conv in self.body:
            h = h + jax.nn.gelu(conv(h))
        return self.head(h)  # (B, h, w, 3)


def _normalised(x: jax.Array) -> jax.Array:
    """Each image's channels at zero mean and unit variance: (B, h, w, C), same shape."""
    centred = x - x.mean((1, 2), keepdims=True)
    return centred / jnp.sqrt(jnp.square(centred).mean((1, 2), keepdims=True) + 1e-4)


def correlation(a: jax.Array, b: jax.Array, radius: int) -> jax.Array:
    """Cost volume: for each shift d in [-radius, radius]^2 (row-major, dy outer), the mean over
    channels of a[p] * b[p + d], edges clamped: (B, h, w, C) x 2 -> (B, h, w, (2r+1)^2)."""
    _, height, width, _ = a.shape
    padded = jnp.pad(b, ((0, 0), (radius, radius), (radius, radius), (0, 0)), mode="edge")
    shifts = [
        (a * padded[:, dy : dy + height, dx : dx + width]).mean(-1)
        for dy in range(2 * radius + 1)
        for dx in range(2 * radius + 1)
    ]
    return jnp.stack(shifts, -1)  # (B, h, w, (2r+1)^2)


# Per block: previous, last, last warped, previous warped (3 channels each), flow (2), logit (1),
# and the cost volume.
_BLOCK_INPUTS = 4 * 3 + 2 + 1 + (2 * CORRELATION_RADIUS + 1) ** 2


class MotionNet(nnx.Module):
    def __init__(self, config: MotionConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.blocks = nnx.List(
            [
                _ScaleBlock(_BLOCK_INPUTS, width, depth, rngs=rngs)
                for width, depth in zip(config.widths, config.depths, strict=True)
            ]
        )

    def __call__(self, previous: jax.Array, last: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The next frame's motion from the last two frames (B, H, W, 3) in [-1, 1]:
        (backward flow (B, H, W, 2) in pixels, mask (B, H, W, 1) in (0, 1))."""
        batch, height, width, _ = last.shape
        flow = jnp.zeros((batch, height, width, 2), last.dtype)
        logit = jnp.full((batch, height, width, 1), _INITIAL_LOGIT, last.dtype)
        for factor, block in zip(self.config.factors, self.blocks, strict=True):
            previous_moved = warp(previous, flow)  # (B, H, W, 3)
            features = jnp.concatenate(
                [previous, last, warp(last, flow), previous_moved, flow / factor, logit], -1
            )  # (B, H, W, 15), the flow in this scale's pixels
            features = average_pool(features, factor)  # (B, H/f, W/f, 15)
            cost = correlation(
                _normalised(average_pool(last, factor)),
                _normalised(average_pool(previous_moved, factor)),
                CORRELATION_RADIUS,
            )  # (B, H/f, W/f, 25)
            features = jnp.concatenate([features, cost], -1)  # (B, H/f, W/f, 40)
            correction = _upsample(block(features), height, width)  # (B, H, W, 3)
            flow = flow + factor * correction[..., :2]
            logit = logit + correction[..., 2:]
        return flow, jax.nn.sigmoid(logit)


def predict_next(
    model: MotionNet, previous: jax.Array, last: jax.Array, fill: jax.Array | None = None
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One step: (next frame (B, H, W, 3), its backward flow (B, H, W, 2), mask (B, H, W, 1)).
    `fill` (default: the last frame) is shown where the mask does not trust the motion."""
    flow, mask = model(previous, last)
    moved = warp(last, flow)  # (B, H, W, 3)
    fill = last if fill is None else fill
    return mask * moved + (1 - mask) * fill, flow, mask


def rollout(
    model: MotionNet, previous: jax.Array, last: jax.Array, steps: int
) -> tuple[jax.Array, jax.Array]:
    """`steps` frames predicted one by one, each from the two before it (the predicted ones fed
    back): (frames (B, steps, H, W, 3), backward flows (B, steps, H, W, 2))."""

    def step(carry, _):
        before, current = carry
        following, flow, _ = predict_next(model, before, current)
        return (current, following), (following, flow)

    # Unrolled: XLA's CPU backend runs convolutions inside a loop body several times slower than
    # at top level (a 6-step training rollout's gradient: 4.1 s rolled, 0.47 s unrolled).
    _, (frames, flows) = jax.lax.scan(step, (previous, last), None, length=steps, unroll=True)
    return jnp.moveaxis(frames, 0, 1), jnp.moveaxis(flows, 0, 1)  # (B, steps, ...)
