"""Who may see whom in a latent sequence processed all at once (the reference and training path).

A sequence is a list of latent frames, each clean (context, committed frame by frame) or noisy
(being generated, one block of `chunk_frames`). The rules are exactly those of the cached path:
- a clean frame sees clean frames up to and including its own time;
- a noisy frame sees clean frames before its block starts, and the noisy frames of its block;
- nobody sees clean frames older than `window` frames before its block starts;
- the anchor z_0 (the clean frame at time 0) is seen through its own segment, at window-relative
  position 0, once it has left the window (and only when the anchor is on).
Training feeds sequences longer than the window through these rules, so generation past the
window is in distribution (DESIGN.md §3).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from stream.config import DiTConfig
from stream.model.attention import Segment, visibility_bias
from stream.model.rope import apply_rope, frames_angles


class SequenceLayout(NamedTuple):
    time: jax.Array  # absolute latent frame index of each frame, (T,) int32
    noisy: jax.Array  # whether the frame is being generated, (T,) bool
    block_start: jax.Array  # time of the first frame of its block (itself when clean), (T,) int32


def history_then_chunk(history: int, chunk: int) -> SequenceLayout:
    """Clean frames 0..history-1, then one noisy block: what one cached extension step sees."""
    time = np.arange(history + chunk, dtype=np.int32)
    noisy = time >= history
    block_start = np.where(noisy, history, time).astype(np.int32)
    return SequenceLayout(jnp.asarray(time), jnp.asarray(noisy), jnp.asarray(block_start))


def teacher_forcing(length: int, chunk: int, first: int = 1) -> SequenceLayout:
    """Clean frames 0..length-1, then a noisy copy of frames first..length-1 cut into blocks of
    `chunk` starting at `first`.

    Frame 0 (the anchor) is always given clean, so the noisy copy starts at frame 1 or later, as
    extension does after the first push; `first` sets where block boundaries fall, which at
    inference depends on how many latent frames were pushed.
    """
    if not 1 <= first < length:
        raise ValueError(f"first={first} must be in 1..length-1={length - 1}")
    clean_time = np.arange(length, dtype=np.int32)
    noisy_time = np.arange(first, length, dtype=np.int32)
    noisy_start = first + ((noisy_time - first) // chunk) * chunk
    return SequenceLayout(
        jnp.asarray(np.concatenate([clean_time, noisy_time])),
        jnp.asarray(np.concatenate([np.zeros(length, bool), np.ones(len(noisy_time), bool)])),
        jnp.asarray(np.concatenate([clean_time, noisy_start]).astype(np.int32)),
    )


def frame_visibility(layout: SequenceLayout, window: jax.Array) -> jax.Array:
    """(T, T) bool: may query frame i attend to key frame j (main segment, anchor excluded)."""
    qt, qn, qs = layout.time[:, None], layout.noisy[:, None], layout.block_start[:, None]
    kt, kn, ks = layout.time[None, :], layout.noisy[None, :], layout.block_start[None, :]
    clean_key = ~kn & ((kt < qs) | (~qn & (kt == qt)))
    same_block = kn & qn & (ks == qs)
    in_window = kt >= qs - window
    return (clean_key | same_block) & in_window


def window_offset(block_start: jax.Array, window: jax.Array) -> jax.Array:
    """Shift that places the window's oldest frame at position 1 once frame 0 has left it.

    Until then positions are absolute, so the cached path equals the full one while the history
    fits in the window; afterwards positions stay in [0, window + chunk] for ever.
    """
    return jnp.maximum(0, block_start - window - 1)


def anchor_visible(block_start: jax.Array, window: jax.Array, anchor_on: jax.Array) -> jax.Array:
    """The anchor has its own slot only once frame 0 is outside the window; before, it is in it."""
    return anchor_on & (block_start - window > 0)


def sequence_segments(
    config: DiTConfig, layout: SequenceLayout, window: jax.Array, anchor_on: jax.Array
):
    """make_segments for a whole sequence (frame 0 must be the clean anchor z_0)."""
    n = config.tokens_per_frame
    visible = jnp.repeat(jnp.repeat(frame_visibility(layout, window), n, 0), n, 1)  # (T*N, T*N)
    main_bias = visibility_bias(visible)
    abs_angles = frames_angles(config, layout.time)  # (T*N, hd/2)
    relative = layout.time - window_offset(layout.block_start, window)  # (T,)
    rel_angles = frames_angles(config, relative)
    anchor_angles = frames_angles(config, jnp.zeros((1,), jnp.int32))
    anchor_ok = jnp.repeat(anchor_visible(layout.block_start, window, anchor_on), n)  # (T*N,)
    anchor_bias = jnp.broadcast_to(visibility_bias(anchor_ok)[:, None], (anchor_ok.shape[0], n))

    def make_segments(layer: int, k: jax.Array, v: jax.Array) -> list[Segment]:
        main = Segment(abs_angles, apply_rope(k, abs_angles), v, main_bias)
        anchor_k = apply_rope(k[:, :n], anchor_angles)  # (B, N, H, hd)
        return [main, Segment(rel_angles, anchor_k, v[:, :n], anchor_bias)]

    return make_segments
