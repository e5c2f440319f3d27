"""Detail carry-over: the last real frame's fine detail, kept where the prediction has not moved.

A 4x-spatial VAE reconstructs fine texture at about 20 dB, so decoded predictions are softer than
the frames they continue, and a still scene loses 2-5 dB against simply repeating the last frame
before the DiT has done anything. The session knows the last real frame and what the decoder
makes of its latent frame repeated (the model's "no change"), so their difference (what the VAE
lost) is added back to every decoded prediction, gated per pixel by how far the prediction has
moved from that repeat: fully where nothing changed, not at all where something moved, so moved
content never drags stale detail with it. A prediction of no change thus streams the last real
frame itself.

Inside the gate the prediction's own small change can be shrunk too (snap): on footage it never
saw, the model's changes that small are mostly flicker, not motion (on the validation clips the
predicted frame-to-frame change was 3.6x the truth's at the first chunk).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from stream.model.vae import TEMPORAL_FACTOR


def carry_detail(
    frames: jax.Array,
    decoded_last: jax.Array,
    detail: jax.Array,
    width: float,
    snap: float = 0.0,
) -> jax.Array:
    """frames (T, S, S, 3) decoded predictions in [-1, 1]; decoded_last (T or 1, S, S, 3) the
    decoder's frames of the last real latent frame repeated, and detail (T or 1, S, S, 3) the
    last real frame minus them (one per predicted frame, or one for all). width: the change
    (in [-1, 1] units, largest over colour channels) at which the gate has fallen to 1/e, 0
    turns carry-over off; snap: the fraction of the prediction's change from decoded_last taken
    back where the gate is open (0: none; 1: a fully open gate gives the real frame)."""
    if width == 0.0:
        return frames
    change = jnp.max(jnp.abs(frames - decoded_last), axis=-1, keepdims=True)  # (T, S, S, 1)
    gate = jnp.exp(-jnp.square(change / width))  # (T, S, S, 1)
    return frames + gate * (detail + snap * (decoded_last - frames))  # (T, S, S, 3)


@dataclasses.dataclass(frozen=True)
class DetailCarry:
    """Detail carry-over as a pixel filter (stream/filters/__init__.py). Its state is the
    reference of the last real group: the decoder's frames of its latent frame repeated, and the
    last real frame minus each of them, (4, S, S, 3) each; zeros before any push carry nothing.

    The decoder makes 4 frames of every latent frame, each its own way (a repeated latent frame
    decodes to the same 4 frames again and again, up to 0.1 apart), so a prediction that does not
    change is compared, and given the real frame's detail, frame by frame of that rhythm."""

    width: float  # SamplerConfig.detail_width
    snap: float  # SamplerConfig.detail_snap

    def init(self, size: int) -> tuple[jax.Array, jax.Array]:
        blank = jnp.zeros((TEMPORAL_FACTOR, size, size, 3), jnp.float32)
        return blank, blank

    def observe(
        self,
        state: tuple[jax.Array, jax.Array],
        real: jax.Array,
        no_change: Callable[[], jax.Array],
    ) -> tuple[jax.Array, jax.Array]:
        repeated = no_change()  # (4, S, S, 3)
        return repeated, real[-1] - repeated

    def apply(self, state: tuple[jax.Array, jax.Array], frames: jax.Array) -> jax.Array:
        repeats = frames.shape[0] // state[0].shape[0]
        repeated, detail = (jnp.tile(r, (repeats, 1, 1, 1)) for r in state)  # (4F, S, S, 3)
        return carry_detail(frames, repeated, detail, self.width, self.snap)  # (4F, S, S, 3)
