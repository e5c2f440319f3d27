"""The anchor to the first latent frame z_0, which keeps a long rollout from drifting.

Two mechanisms (DESIGN.md §2.2), combined by the session's mode:
- attention: z_0's keys/values stay in every layer's cache and every new token attends to them;
- guidance: each sampling step adds the restoring force of a penalty C(z, z_0) to the velocity.

C measures identity-bearing features that do not depend on where things are: for every latent
channel, the frame's spatial mean and spatial standard deviation (the latent analogue of colour
and contrast statistics), compared with z_0's:

    C(z, z_0) = mean_c [ (mean_c(z) - mean_c(z_0))^2 + (std_c(z) - std_c(z_0))^2 ]

It is zero for any motion that rearranges the picture and grows as colours, contrast or content
energy wander away from the first frame.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jax

# C(z, z_0): latent frames (..., h, w, C) against z_0 (h, w, C) or broadcastable -> (...).
Penalty = Callable[["jax.Array", "jax.Array"], "jax.Array"]

ANCHOR_MODES: tuple[str, ...] = ("none", "attention", "guidance", "both")
# Both: a residual-flow model's rollout (each chunk is a change from the last) builds its own
# colour and contrast drift into saturated noise after about 30 s with the attention anchor
# alone; the restoring force of the guidance anchor, at the model's guidance_strength, holds it
# (docs/experiments/2026-11-29-drift-hour.md).
DEFAULT_ANCHOR = "both"


def check_anchor_mode(mode: object) -> str:
    if mode not in ANCHOR_MODES:
        raise ValueError(
            f"anchor={mode!r} is not an anchor mode; accepted: {', '.join(ANCHOR_MODES)}"
        )
    return mode


def uses_attention(mode: str) -> bool:
    return mode in ("attention", "both")


def uses_guidance(mode: str) -> bool:
    return mode in ("guidance", "both")


def _statistics(z: jax.Array) -> tuple[jax.Array, jax.Array]:
    return z.mean(axis=(-3, -2)), z.std(axis=(-3, -2))  # (..., C) each, from (..., h, w, C)


def anchor_penalty(z: jax.Array, z0: jax.Array) -> jax.Array:
    """C per frame: z (..., h, w, C) against z0 (h, w, C) or broadcastable -> (...)."""
    mean, std = _statistics(z)
    mean0, std0 = _statistics(z0)
    return ((mean - mean0) ** 2 + (std - std0) ** 2).mean(axis=-1)


def restoring_force(
    z: jax.Array,
    z0: jax.Array,
    penalty: Penalty = anchor_penalty,
) -> jax.Array:
    """grad_z of the summed per-frame penalty, same shape as z: the direction that restores z_0."""
    import jax  # here, so that the mode names above load without JAX (the command line's parser)

    return jax.grad(lambda x: penalty(x, z0).sum())(z)
