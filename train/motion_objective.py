"""The motion predictor's loss: move the content to the right place, at the right speed.

- photometric: Charbonnier over a Laplacian pyramid of each predicted frame against the true one,
  so that every band of detail counts, not only the low frequencies where blur wins;
- change: Charbonnier between the prediction's frame-to-frame change and the truth's, so that
  standing still costs where the truth moves (the measure a frozen prediction fails);
- flow: Charbonnier of the predicted backward flow against the exact one, where it is known.
Each predicted frame is fed back as the next step's last frame (a rollout), so the loss also
teaches the predictor to continue from its own frames.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from stream.model.motion_net import MotionNet, average_pool, rollout
from train.config import MotionObjective

_EPSILON = 1e-3  # Charbonnier: sqrt(x^2 + eps^2), L1 away from 0, smooth at it


def charbonnier(x: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.square(x) + _EPSILON**2)


def _double(x: jax.Array) -> jax.Array:
    """Nearest-neighbour doubling, the transpose of average_pool(x, 2) up to scale."""
    return jnp.repeat(jnp.repeat(x, 2, axis=-3), 2, axis=-2)


def pyramid_charbonnier(predicted: jax.Array, truth: jax.Array, levels: int) -> jax.Array:
    """Mean Charbonnier over the bands of a Laplacian pyramid of the difference (..., H, W, C)."""
    difference = predicted - truth
    total = jnp.zeros(())
    for _ in range(levels - 1):
        coarse = average_pool(difference, 2)
        total = total + charbonnier(difference - _double(coarse)).mean()
        difference = coarse
    return total + charbonnier(difference).mean()


def motion_loss(
    model: MotionNet, batch: dict[str, jax.Array], objective: MotionObjective
) -> tuple[jax.Array, dict[str, jax.Array]]:
    frames = batch["frames"]  # (B, 2 + K, S, S, 3)
    predicted, flows = rollout(model, frames[:, 0], frames[:, 1], objective.rollout_steps)
    truth = frames[:, 2:]  # (B, K, S, S, 3)
    photometric = pyramid_charbonnier(predicted, truth, objective.pyramid_levels)
    predicted_before = jnp.concatenate([frames[:, 1:2], predicted[:, :-1]], 1)  # (B, K, ...)
    change = charbonnier((predicted - predicted_before) - (truth - frames[:, 1:-1])).mean()
    flow_error = charbonnier(flows - batch["flows"]).mean((1, 2, 3, 4))  # (B,)
    known = batch["known"]  # (B,)
    flow = jnp.sum(flow_error * known) / jnp.maximum(known.sum(), 1.0)
    loss = photometric + objective.difference_weight * change + objective.flow_weight * flow
    return loss, {"photometric": photometric, "change": change, "flow": flow}
