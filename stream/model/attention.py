"""Attention over key segments that may rotate the same queries differently.

The cached path attends to one segment (anchor + ring + the queries' own block, all at positions
relative to the window). The full-sequence path (reference and training) needs two: the sequence
itself at absolute positions, and the anchor frame z_0 seen from the window-relative position the
cache would give the query. Softmax runs jointly over all segments, so both paths are one attention.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from stream.model.rope import apply_rope

# Large but finite: a fully masked segment then contributes exp(-1e9) = 0 instead of NaN.
MASKED = -1e9


class Segment(NamedTuple):
    q_angles: tuple[jax.Array, jax.Array]  # cos, sin tables for the queries, (Lq, head_dim/2)
    k: jax.Array  # rotated keys (B, Lk, H, head_dim)
    v: jax.Array  # values (B, Lk, H, head_dim)
    bias: jax.Array  # additive mask, 0 where visible and MASKED where not, (Lq, Lk)


def visibility_bias(visible: jax.Array) -> jax.Array:
    return jnp.where(visible, 0.0, MASKED).astype(jnp.float32)


def segmented_attention(q: jax.Array, segments: list[Segment]) -> jax.Array:
    """Unrotated queries (B, Lq, H, hd) attend jointly to every segment -> (B, Lq, H, hd)."""
    scale = q.shape[-1] ** -0.5
    logits = []
    for seg in segments:
        q_rot = apply_rope(q, seg.q_angles)  # (B, Lq, H, hd)
        logit = jnp.einsum("bqhd,bkhd->bhqk", q_rot, seg.k) * scale  # (B, H, Lq, Lk)
        logits.append(logit + seg.bias[None, None])
    weights = jax.nn.softmax(jnp.concatenate(logits, axis=-1), axis=-1)  # (B, H, Lq, sum Lk)
    out = 0.0
    start = 0
    for seg in segments:
        length = seg.k.shape[1]
        out = out + jnp.einsum("bhqk,bkhd->bqhd", weights[..., start : start + length], seg.v)
        start += length
    return out  # (B, Lq, H, hd)
