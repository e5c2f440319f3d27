"""Pixel filters: what post-processes a stream's predicted frames, behind one small interface.

A filter never feeds the cache or the DiT: it observes each group of real frames a session
pushes and changes the frames the session predicts after them. An engine composes the filters
its model's sampler config asks for (`pixel_filters`), and a session's state holds one state per
composed filter, so a filter that is off holds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import jax

from stream.config import SamplerConfig
from stream.filters.detail import DetailCarry


class PixelFilter(Protocol):
    """One post-processing stage. Frames are float32 in [-1, 1]; S is the image size."""

    def init(self, size: int) -> Any:
        """The state of a session that has pushed nothing yet (a pytree of fixed shapes)."""
        ...

    def observe(self, state: Any, real: jax.Array, no_change: Callable[[], jax.Array]) -> Any:
        """The state after a pushed group of real frames (G, S, S, 3). no_change() gives the
        decoder's 4 frames (4, S, S, 3) of the group's latent frame repeated: the model's own
        answer "nothing moves" (traced only if called)."""
        ...

    def apply(self, state: Any, frames: jax.Array) -> jax.Array:
        """Predicted frames (4F, S, S, 3) -> the frames streamed, same shape."""
        ...


def pixel_filters(sampler: SamplerConfig) -> tuple[PixelFilter, ...]:
    """The filters a model's sampler config composes, in the order they apply."""
    filters: list[PixelFilter] = []
    if sampler.detail_width > 0.0:
        filters.append(DetailCarry(sampler.detail_width, sampler.detail_snap))
    return tuple(filters)
