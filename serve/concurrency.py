"""Engine work off the event loop, within bounds.

- SessionSlots caps the sessions and jobs running at once (a full server says so at once instead
  of queueing work it cannot do in time). A slot whose call has ended is still held until the
  call's step in progress has returned; a call arriving meanwhile waits for it (a step), so a
  session reopened right after a cancel is not refused.
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
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import Executor
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_DONE = object()


# How long a call waits for a slot held by a call that has ended: its step in progress (a chunk,
# or a job's push step of 4 stored frames; 16 took up to 2 s on our CPU) must return first.
STOPPING_WAIT_S = 5.0


class Slot:
    """One taken slot; `end()` says that its call has ended, the slot being held only until the
    call's work has stopped."""

    def __init__(self, slots: SessionSlots):
        self._slots = slots
        self.held = True
        self.ended = False

    def end(self) -> None:
        if self.held and not self.ended:  # a call may end after its slot was given back
            self.ended = True
            self._slots.stopping += 1


class SessionSlots:
    """A counter of open sessions; used from the event loop thread only, so it needs no lock."""

    def __init__(self, limit: int):
        self.limit = limit
        self.active = 0
        self.stopping = 0  # of the active slots, those whose call has ended
        self._released = asyncio.Event()  # set, and replaced, whenever a slot is given back

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[Slot | None]:
        """Takes a slot for the block and yields it, or yields None when all are taken. While
        some are taken by calls that have ended, waits up to STOPPING_WAIT_S for one."""
        await self._wait_for_stopping()
        if self.active >= self.limit:
            yield None
            return
        self.active += 1
        slot = Slot(self)
        try:
            yield slot
        finally:
            slot.held = False
            self.active -= 1
            if slot.ended:
                self.stopping -= 1
            self._released.set()
            self._released = asyncio.Event()

    async def _wait_for_stopping(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOPPING_WAIT_S
        while self.active >= self.limit and self.stopping and loop.time() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), deadline - loop.time())


async def until_stopped(call: Coroutine[Any, Any, T], ended: Callable[[], None]) -> T:
    """Awaits call in a task of its own. Cancelled, it calls ended() at once (the caller has
    gone), then cancels call and waits for it to stop (its step in progress to return)."""
    task = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        ended()
        task.cancel()
        await _wait_out(task)
        if not task.cancelled():
            task.exception()  # nobody wants it now; retrieved, so asyncio does not log it
        raise


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
