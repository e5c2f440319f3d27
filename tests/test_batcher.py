"""The batcher on its own (no model): calls from many threads come back to their callers, a
failing tick fails only its own calls, and idle workers leave no threads behind."""

from __future__ import annotations

import threading
import time

import pytest

from stream.runtime import batcher as batcher_module
from stream.runtime.batcher import Batcher


def _doubling(program, slots):
    if any(args[0] < 0 for args in slots):
        raise ValueError("negative")
    return [args[0] * 2 for args in slots]


def _workers(batcher: Batcher) -> int:
    return sum(thread.name == f"batcher-{id(batcher):x}" for thread in threading.enumerate())


def test_every_caller_gets_its_own_result():
    batcher = Batcher(_doubling, slots=4, workers=2)
    results = {}

    def call(value: int) -> None:
        results[value] = batcher.call("double", value)

    threads = [threading.Thread(target=call, args=(value,)) for value in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == {value: 2 * value for value in range(16)}


def test_a_failing_call_raises_in_its_caller_and_the_batcher_keeps_serving():
    batcher = Batcher(_doubling, slots=1)
    with pytest.raises(ValueError, match="negative"):
        batcher.call("double", -1)
    assert batcher.call("double", 3) == 6


def test_idle_workers_end_and_a_later_call_starts_them_again(monkeypatch):
    monkeypatch.setattr(batcher_module, "IDLE_EXIT_S", 0.05)
    batcher = Batcher(_doubling, slots=1, workers=2)
    assert batcher.call("double", 1) == 2
    assert _workers(batcher) == 2
    deadline = time.monotonic() + 10
    while _workers(batcher) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _workers(batcher) == 0
    assert batcher.call("double", 2) == 4


def _served_order(running: str, queued: tuple[str, ...]) -> list[str]:
    """The programs a one-slot, one-worker batcher serving "generate" first runs, in order, when
    the calls `queued` arrive (in that order) while a call of `running` holds the worker."""
    entered, gate, order = threading.Event(), threading.Event(), []

    def run(program, slots):
        entered.set()
        gate.wait(timeout=30)
        order.append(program)
        return [args[0] for args in slots]

    batcher = Batcher(run, slots=1, first=frozenset({"generate"}))
    threads = [threading.Thread(target=batcher.call, args=(running, 0))]
    threads[0].start()
    entered.wait(timeout=30)
    for count, program in enumerate(queued, start=1):
        threads.append(threading.Thread(target=batcher.call, args=(program, 1)))
        threads[-1].start()
        while batcher.waiting < count:
            time.sleep(0.01)
    gate.set()
    for thread in threads:
        thread.join(timeout=30)
    return order


def test_calls_of_first_programs_are_served_before_earlier_calls_of_others():
    assert _served_order("push", ("push", "generate")) == ["push", "generate", "push"]


def test_a_call_passed_over_max_passes_times_goes_next(monkeypatch):
    monkeypatch.setattr(batcher_module, "MAX_PASSES", 2)
    order = _served_order("generate", ("push", "generate", "generate", "generate"))
    assert order == ["generate", "generate", "generate", "push", "generate"]
