"""The one conversion between stored frames (uint8 RGB, 0..255) and model pixels ([-1, 1])."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def to_unit(frames: np.ndarray | jax.Array) -> np.ndarray | jax.Array:
    """uint8 frames -> float32 in [-1, 1] (numpy in, numpy out; JAX in, JAX out)."""
    return frames.astype(np.float32) / 127.5 - 1.0


def to_uint8(pixels: np.ndarray | jax.Array) -> np.ndarray | jax.Array:
    """Pixels in [-1, 1] (values outside are clipped) -> uint8, rounding half to even."""
    xp = jnp if isinstance(pixels, jax.Array) else np
    return xp.clip(xp.round((pixels + 1.0) * 127.5), 0, 255).astype(np.uint8)
