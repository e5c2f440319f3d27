"""Streaming autoregressive video extension on JAX.

Usage::

    engine = Engine.load()
    session = engine.open(anchor="both", seed=0)
    session.push(frames)  # uint8 (N, H, W, 3)
    more = session.extend(32)  # uint8 (32, S, S, 3)

These names are the engine's public face: a server depends on them (StreamEngine, stream/api.py)
and on the media helpers in stream.media, never on stream.runtime's internals.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stream.api import BatchingStats, StreamEngine
    from stream.runtime.anchor import ANCHOR_MODES, DEFAULT_ANCHOR
    from stream.runtime.engine import Engine
    from stream.runtime.session import ChunkInfo, PredictionError, Session

__all__ = [
    "ANCHOR_MODES",
    "DEFAULT_ANCHOR",
    "BatchingStats",
    "ChunkInfo",
    "Engine",
    "PredictionError",
    "Session",
    "StreamEngine",
]

# Imported on first use: the engine brings JAX (seconds to import), which the command line's
# parser, the gRPC client and video I/O must not pay for when they only touch stream's light
# modules (the anchor modes and the face load without JAX).
_HOME = {
    "ANCHOR_MODES": "stream.runtime.anchor",
    "DEFAULT_ANCHOR": "stream.runtime.anchor",
    "BatchingStats": "stream.api",
    "ChunkInfo": "stream.runtime.session",
    "Engine": "stream.runtime.engine",
    "PredictionError": "stream.runtime.session",
    "Session": "stream.runtime.session",
    "StreamEngine": "stream.api",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'stream' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
