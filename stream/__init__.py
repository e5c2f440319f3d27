"""Streaming autoregressive video extension on JAX.

Usage::

    engine = Engine.load()
    session = engine.open(anchor="attention", seed=0)
    session.push(frames)  # uint8 (N, H, W, 3)
    more = session.extend(32)  # uint8 (32, S, S, 3)
"""

from stream.engine import Engine
from stream.session import ChunkInfo, PredictionError, Session

__all__ = ["ChunkInfo", "Engine", "PredictionError", "Session"]
