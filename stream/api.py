"""The engine's small face: what a server (serve/) needs of an engine, and nothing more.

A server loads an engine, warms it up, opens sessions on it and reports on it; sessions push
real frames and generate predicted ones (stream/runtime/session.py). Like JetStream's engine
interface, this is the whole contract between the serving layer and the engine: the compiled
programs, their state and the measurement stages stay behind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from stream.config import EngineConfig
    from stream.runtime.session import Session


class BatchingStats(Protocol):
    """How the engine's continuous batching is set up and what it has done (for metrics)."""

    slots: int  # sessions one compiled call serves
    workers: int  # compiled calls in flight at once
    ticks: int  # batched calls made
    calls: int  # session calls those ticks served

    @property
    def waiting(self) -> int: ...

    @property
    def active_sessions(self) -> int: ...


class StreamEngine(Protocol):
    """A loaded model that serves sessions (stream.runtime.engine.Engine is one)."""

    config: EngineConfig  # image size, frame rate, chunk and window sizes, sampler defaults
    name: str  # the model's name, e.g. "stream-64px vae4400-dit20296"
    info: dict[str, Any]  # the model's info.json: training, data, held-out clips, metrics
    batcher: BatchingStats

    def open(
        self,
        anchor: str = ...,
        seed: int = 0,
        steps: int | None = None,
        window: int | None = None,
        guidance: float | None = None,
    ) -> Session:
        """A new session (push, extend, stream; see stream.runtime.session.Session)."""
        ...

    def warm_up(self) -> None:
        """Compile every program a session runs, so the first session runs at full speed."""
        ...
