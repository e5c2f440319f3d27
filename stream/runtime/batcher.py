"""Continuous batching: the calls many threads make at once run as one compiled call.

Each session calls the engine from its own thread and blocks; a worker thread takes, each tick,
the waiting calls of one program (up to the slot count), fills the empty slots with copies of the
first call and runs them as one call. Calls join and leave between ticks. While fewer calls wait
than sessions are active, the worker lingers a little for the rest, so sessions in lockstep share
every tick instead of splitting into a fast and a slow half.

The slot count is fixed: a program compiled for fewer slots would round differently (XLA picks
other kernels for other shapes), and a session's frames would then depend on how many others were
served with it. Fixed, a session alone (its copies in the other slots) gets the same bits every
time; with company its frames may still differ by rounding, as XLA's CPU matmuls may sum a row in
another order at another batch position (tests/test_batching.py states the bound).

Calls of the programs named `first` (generating a chunk) are served before the others (taking in
real frames), oldest first within each kind, as LLM servers serve decode steps before prefills: a
viewer waits on every generated chunk, while real frames only need to be in before the next one
(docs/experiments/2026-11-29-serving.md has the measurement). A call passed over MAX_PASSES times
goes next, so sessions that only generate (extension jobs) cannot starve another session's frames.

Several workers run ticks at the same time. On a CPU that is where the throughput of many sessions
comes from: XLA runs one program on about one core, so two ticks in flight use two cores, while more
slots in one program do not (docs/experiments/2026-11-29-bench.md, "Batching", has the
measurements).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

# Long enough for a session's host work between two chunks, short against a chunk's compute.
LINGER_S = 0.003
# A worker with nothing to do for this long ends (the next call starts one again), so engines
# made for a moment (a training run's periodic eval) leave no threads behind.
IDLE_EXIT_S = 30.0
# Ticks that may overtake a waiting call: two rounds of 8 sessions, about 0.4 s on our CPU.
MAX_PASSES = 16


@dataclasses.dataclass(eq=False)
class _Call:
    program: Hashable
    args: tuple[Any, ...]
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None
    passes: int = 0  # ticks that overtook this call


class Batcher:
    """run(program, calls) runs exactly `slots` argument tuples of one program as one call and
    returns their results in order."""

    def __init__(
        self,
        run: Callable[[Hashable, Sequence[tuple[Any, ...]]], Sequence[Any]],
        slots: int,
        workers: int = 1,
        first: frozenset[Hashable] = frozenset(),
    ):
        if slots < 1:
            raise ValueError(f"slots={slots} must be >= 1")
        if workers < 1:
            raise ValueError(f"workers={workers} must be >= 1")
        self.slots = slots
        self.workers = workers
        self._run = run
        self._first = first
        self._lock = threading.Condition()
        self._waiting: list[_Call] = []
        self._active = 0
        self._running = 0  # worker threads alive
        self.ticks = 0  # batched calls made, for measurement
        self.calls = 0  # calls they served

    @property
    def waiting(self) -> int:
        """Calls waiting for a tick now (read-only; for monitoring)."""
        with self._lock:
            return len(self._waiting)

    @property
    def active_sessions(self) -> int:
        """Sessions inside an active() block now (read-only; for monitoring)."""
        with self._lock:
            return self._active

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Marks a session that will call again soon (pushing or streaming) for the block."""
        with self._lock:
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                self._lock.notify_all()

    def call(self, program: Hashable, *args: Any) -> Any:
        """Runs one call of `program` in the next tick that has room for it; blocks until done."""
        call = _Call(program, args)
        with self._lock:
            self._waiting.append(call)
            while self._running < self.workers:
                self._running += 1
                name = f"batcher-{id(self):x}"
                threading.Thread(target=self._serve, name=name, daemon=True).start()
            self._lock.notify_all()
        call.done.wait()
        if call.error is not None:
            raise call.error
        return call.result

    def _serve(self) -> None:
        while (batch := self._next_tick()) is not None:
            padded = [call.args for call in batch]
            padded += [padded[0]] * (self.slots - len(batch))
            try:
                results = self._run(batch[0].program, padded)
                for call, result in zip(batch, results, strict=False):
                    call.result = result
            except BaseException as error:  # handed to every caller of the tick
                for call in batch:
                    call.error = error
            with self._lock:
                self.ticks += 1
                self.calls += len(batch)
            for call in batch:
                call.done.set()

    def _next_tick(self) -> list[_Call] | None:
        """The calls of the next tick, or None when this worker has been idle too long."""
        with self._lock:
            while True:
                idle_since = time.perf_counter()
                while not self._waiting:
                    if time.perf_counter() - idle_since > IDLE_EXIT_S:
                        self._running -= 1
                        return None
                    self._lock.wait(IDLE_EXIT_S)
                deadline = time.perf_counter() + LINGER_S
                while 0 < len(self._waiting) < min(self._active, self.slots):
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        break
                    self._lock.wait(left)
                if self._waiting:  # another worker may have taken them while this one lingered
                    break
            oldest = self._waiting[0]
            urgent = [call for call in self._waiting if call.program in self._first]
            if oldest.passes >= MAX_PASSES or not urgent:
                program = oldest.program
            else:
                program = urgent[0].program
            batch = [call for call in self._waiting if call.program == program][: self.slots]
            last = self._waiting.index(batch[-1])
            for call in self._waiting[:last]:
                call.passes += call not in batch
            self._waiting = [call for call in self._waiting if call not in batch]
            return batch
