"""The DiT's key/value cache: a permanent anchor slot for z_0 plus a ring of the last W frames.

Shapes are fixed for the whole stream, so one compiled step serves minute 10 as it served
second 1. Keys are stored unrotated and rotated at attention time with window-relative positions
(stream/model/layout.py), so positions never grow with the stream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from stream.config import DiTConfig
from stream.model.attention import Segment, visibility_bias
from stream.model.layout import anchor_visible, window_offset
from stream.model.rope import apply_rope, frames_angles
from stream.runtime.sampler import noised_context


class KVCache(NamedTuple):
    anchor_k: jax.Array  # keys of z_0, (depth, B, N, H, hd)
    anchor_v: jax.Array  # (depth, B, N, H, hd)
    ring_k: jax.Array  # frame f lives in slot f % W, (depth, B, W*N, H, hd)
    ring_v: jax.Array  # (depth, B, W*N, H, hd)
    slot_frame: jax.Array  # absolute frame index held by each slot, -1 when empty, (W,) int32
    length: jax.Array  # frames committed so far = index of the next frame, () int32


def init_cache(config: DiTConfig, batch: int = 1) -> KVCache:
    n, w = config.tokens_per_frame, config.window_frames
    shape = (config.depth, batch, n, config.heads, config.head_dim)
    ring = (config.depth, batch, w * n, config.heads, config.head_dim)
    return KVCache(
        anchor_k=jnp.zeros(shape, jnp.float32),
        anchor_v=jnp.zeros(shape, jnp.float32),
        ring_k=jnp.zeros(ring, jnp.float32),
        ring_v=jnp.zeros(ring, jnp.float32),
        slot_frame=jnp.full((w,), -1, jnp.int32),
        length=jnp.zeros((), jnp.int32),
    )


def cached_segments(
    config: DiTConfig,
    cache: KVCache,
    frames: int,
    window: jax.Array,
    anchor_on: jax.Array,
):
    """make_segments for a block of `frames` new frames starting at cache.length."""
    n = config.tokens_per_frame
    start = cache.length
    offset = window_offset(start, window)
    q_angles = frames_angles(config, start + jnp.arange(frames) - offset)  # (F*N, hd/2)
    anchor_angles = frames_angles(config, jnp.zeros((1,), jnp.int32))  # (N, hd/2)
    ring_angles = frames_angles(config, cache.slot_frame - offset)  # (W*N, hd/2)

    slot_ok = (cache.slot_frame >= 0) & (cache.slot_frame >= start - window)
    ring_visible = jnp.repeat(slot_ok, n)  # (W*N,)
    anchor_ok = jnp.broadcast_to(anchor_visible(start, window, anchor_on), (n,))
    visible = jnp.concatenate([anchor_ok, ring_visible, jnp.ones((frames * n,), bool)])
    bias = jnp.broadcast_to(visibility_bias(visible), (frames * n, visible.shape[0]))

    def make_segments(layer: int, k: jax.Array, v: jax.Array) -> list[Segment]:
        keys = jnp.concatenate(
            [
                apply_rope(cache.anchor_k[layer], anchor_angles),
                apply_rope(cache.ring_k[layer], ring_angles),
                apply_rope(k, q_angles),
            ],
            axis=1,
        )  # (B, N + W*N + F*N, H, hd)
        values = jnp.concatenate([cache.anchor_v[layer], cache.ring_v[layer], v], axis=1)
        return [Segment(q_angles, keys, values, bias)]

    return make_segments


def commit_frame(config: DiTConfig, cache: KVCache, keys: jax.Array, values: jax.Array) -> KVCache:
    """Write one frame's keys/values (depth, B, N, H, hd) at index cache.length."""
    n = config.tokens_per_frame
    frame = cache.length
    slot = frame % config.window_frames
    ring_k = jax.lax.dynamic_update_slice_in_dim(cache.ring_k, keys, slot * n, axis=2)
    ring_v = jax.lax.dynamic_update_slice_in_dim(cache.ring_v, values, slot * n, axis=2)
    is_anchor = frame == 0
    return KVCache(
        anchor_k=jnp.where(is_anchor, keys, cache.anchor_k),
        anchor_v=jnp.where(is_anchor, values, cache.anchor_v),
        ring_k=ring_k,
        ring_v=ring_v,
        slot_frame=cache.slot_frame.at[slot].set(frame),
        length=frame + 1,
    )


def commit_context(
    model: Callable,
    config: DiTConfig,
    cache: KVCache,
    latent: jax.Array,
    window: jax.Array,
    anchor_on: jax.Array,
    seed: jax.Array,
    context_noise: float,
) -> KVCache:
    """Run a clean latent frame (B, 1, h, w, C) through the DiT as context, noised as training
    shows context (sampler.noised_context), and write its keys/values at index cache.length."""
    latent, s = noised_context(latent, seed, cache.length, context_noise)
    segments = cached_segments(config, cache, 1, window, anchor_on)
    _, keys, values = model(latent, s, segments)
    return commit_frame(config, cache, keys, values)
