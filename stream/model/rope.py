"""3D rotary positions: each head's rotation pairs are split between time, row and column.

The score between a rotated query and key depends only on their offsets in (t, y, x), which is
what lets the cache store keys unrotated and rotate them at attention time with positions
relative to the window (DESIGN.md §3).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from stream.config import DiTConfig


def _pair_split(head_dim: int) -> tuple[int, int, int]:
    pairs = head_dim // 2
    spatial = pairs // 3
    return pairs - 2 * spatial, spatial, spatial  # (time, row, column) pairs


def _inverse_frequencies(pairs: int, theta: float) -> jax.Array:
    return theta ** (-jnp.arange(pairs, dtype=jnp.float32) / pairs)  # (pairs,)


def rope_angles(
    config: DiTConfig, time: jax.Array, row: jax.Array, col: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """cos and sin tables for tokens at integer positions; each input has shape (L,)."""
    t_pairs, r_pairs, c_pairs = _pair_split(config.head_dim)
    angles = jnp.concatenate(
        [
            time[:, None].astype(jnp.float32) * _inverse_frequencies(t_pairs, config.rope_theta),
            row[:, None].astype(jnp.float32) * _inverse_frequencies(r_pairs, config.rope_theta),
            col[:, None].astype(jnp.float32) * _inverse_frequencies(c_pairs, config.rope_theta),
        ],
        axis=-1,
    )  # (L, head_dim/2)
    return jnp.cos(angles), jnp.sin(angles)


def apply_rope(x: jax.Array, cos_sin: tuple[jax.Array, jax.Array]) -> jax.Array:
    """Rotate (B, L, H, head_dim) by the (L, head_dim/2) tables."""
    cos, sin = cos_sin
    cos, sin = cos[None, :, None, :], sin[None, :, None, :]  # (1, L, 1, head_dim/2)
    x1, x2 = jnp.split(x, 2, axis=-1)  # (B, L, H, head_dim/2) each
    return jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


def frame_token_grid(config: DiTConfig) -> tuple[jax.Array, jax.Array]:
    """Row and column index of each token inside one latent frame, row-major, shape (N,)."""
    side = config.latent_size // config.patch
    rows, cols = jnp.meshgrid(jnp.arange(side), jnp.arange(side), indexing="ij")
    return rows.reshape(-1), cols.reshape(-1)


def frames_angles(config: DiTConfig, frame_positions: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Angles for every token of frames at the given time positions (F,) -> tables (F*N, .)."""
    rows, cols = frame_token_grid(config)
    n = rows.shape[0]
    time = jnp.repeat(frame_positions, n)  # (F*N,)
    frames = frame_positions.shape[0]
    return rope_angles(config, time, jnp.tile(rows, frames), jnp.tile(cols, frames))
