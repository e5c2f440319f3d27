"""Engine work off the event loop, within bounds.

- SessionSlots caps the sessions and jobs running at once (a full server says so at once instead
  of queueing work it cannot do in time).
- run_step runs one bounded step of blocking work in the thread pool. A cancelled caller does not
  walk away from a running step: it tells the step to stop (a step made of smaller steps checks
  the event between them) and waits for its thread to be free, so a call, and the slot it holds,
  ends only once its work has stopped.
- Prefetch runs a blocking iterator (one engine chunk per step) in the thread pool, at most
  `depth` results ahead of the code sending them: a slow reader stalls generation instead of making
  the server buffer without bound. Steps run one at a time, so a session is never used from two
  threads at once; leaving the `async with` (the call ended or was cancelled) stops it after the
  step in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_DONE = object()


class SessionSlots:
    """A counter of open sessions; used from the event loop thread only, so it needs no lock."""

    def __init__(self, limit: int):
        self.limit = limit
        self.active = 0

    @contextlib.contextmanager
    def hold(self) -> Iterator[bool]:
        """Takes a slot for the block and yields True, or yields False when all are taken."""
        if self.active >= self.limit:
            yield False
            return
        self.active += 1
        try:
            yield True
        finally:
            self.active -= 1


async def run_blocking(pool: Executor, fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)


async def run_step(
    pool: Executor, fn: Callable[..., T], *args: Any, stop: threading.Event | None = None
) -> T:
    """fn(*args) in the pool; cancelled, it sets `stop`, waits for fn to return, then raises
    CancelledError."""
    running = pool.submit(fn, *args)
    done = asyncio.wrap_future(running)
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        if not running.cancel():  # it had started: its thread is free only once it returns
            if stop is not None:
                stop.set()
            await _wait_out(done)
            if not done.cancelled():
                done.exception()  # nobody wants it now; retrieved, so asyncio does not log it
        raise


async def _wait_out(done: asyncio.Future[Any]) -> None:
    """Waits until `done` is done, through further cancellations (a shutdown cancels again)."""
    while not done.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([done])


class Prefetch(Generic[T]):
    """`async with Prefetch(pool, items, depth) as ahead: async for item in ahead: ...`"""

    def __init__(self, pool: Executor, items: Iterator[T], depth: int):
        self._pool = pool
        self._items = items
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=depth)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsyncIterator[T]:
        self._task = asyncio.create_task(self._produce())
        return self._consume()

    async def __aexit__(self, *exc_info: object) -> None:
        self._task.cancel()
        await _wait_out(self._task)
        # An iterator left part-way holds what it opened (the engine marks a streaming session
        # active until its generator ends); closing it now, rather than whenever it is collected,
        # releases that with the call.
        close = getattr(self._items, "close", None)
        if close is not None:
            close()

    async def _produce(self) -> None:
        try:
            while (item := await run_step(self._pool, next, self._items, _DONE)) is not _DONE:
                await self._queue.put(item)
        except Exception as error:  # handed to the consumer, which raises it in the call's task
            await self._queue.put(error)
            return
        await self._queue.put(_DONE)

    async def _consume(self) -> AsyncIterator[T]:
        while (item := await self._queue.get()) is not _DONE:
            if isinstance(item, Exception):
                raise item
            yield item
