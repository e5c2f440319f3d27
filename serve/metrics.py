"""What a running server exports to Prometheus (`stream serve --metrics-port`).

Counts that live elsewhere (slots in use, the engine batcher's queue and ticks, the job store's
jobs) are read when scraped, so they cannot drift from the truth; states (running calls, what a
session is doing) are counted as calls enter and leave them, events (calls ending, chunks made)
as they happen. Each server has its own registry, so several servers in one process (tests) do not
share counts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIServer

import prometheus_client
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from serve.concurrency import SessionSlots
from serve.job_store import JobStore
from stream import BatchingStats

# Chunk latencies of interest run from a few ms (accelerators) to seconds (a busy CPU).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

SESSION_STATES = ("waiting", "pushing", "generating")
_SESSIONS_HELP = (
    "Live sessions by state: waiting (for the client's next request), pushing (opening the "
    "session from its config, or decoding and pushing the frames it sent), generating (making "
    "and sending the chunks of an extend request)"
)
_JOBS_HELP = (
    "Extend jobs by state: running (an Extend or ResumeExtend call running on this server); "
    "with a job store (--job-store), the stored jobs not running here: resumable (not every "
    "frame sent yet: a client that lost its stream may resume it), complete (every frame sent; "
    "still resumable until it expires), expired (no progress for --job-ttl-seconds: not "
    "resumable, removed from disk when a job is next stored). A store shared by several servers "
    "is counted as this server last read it (at start and whenever it stores a job), and "
    "another server's running job counts as resumable"
)


class _Live(Collector):
    """Gauges and counters read from the server's and engine's own state at scrape time."""

    def __init__(
        self,
        slots: SessionSlots,
        batcher: BatchingStats,
        running: dict[str, int],
        sessions: dict[str, int],
        jobs: JobStore | None,
    ):
        self._slots = slots
        self._batcher = batcher
        self._running = running
        self._sessions = sessions
        self._jobs = jobs

    def collect(self) -> Iterator[Any]:
        slots = GaugeMetricFamily("stream_slots", "Session slots by use", labels=["state"])
        slots.add_metric(["used"], self._slots.active)
        slots.add_metric(["free"], self._slots.limit - self._slots.active)
        yield slots
        sessions = GaugeMetricFamily(
            "stream_calls_running", "Sessions and jobs running now", labels=["kind"]
        )
        for kind, count in self._running.items():
            sessions.add_metric([kind], count)
        yield sessions
        by_state = GaugeMetricFamily("stream_sessions", _SESSIONS_HELP, labels=["state"])
        for state, count in self._sessions.items():
            by_state.add_metric([state], count)
        yield by_state
        jobs = GaugeMetricFamily("stream_jobs", _JOBS_HELP, labels=["state"])
        jobs.add_metric(["running"], self._running["job"])
        if self._jobs is not None:
            for state, count in self._jobs.census().items():
                jobs.add_metric([state], count)
        yield jobs
        yield GaugeMetricFamily(
            "stream_batcher_queue_depth",
            "Engine calls waiting for a tick of the batcher",
            value=self._batcher.waiting,
        )
        yield GaugeMetricFamily(
            "stream_batcher_active_sessions",
            "Sessions inside a push or an extension, which the batcher waits for",
            value=self._batcher.active_sessions,
        )
        yield CounterMetricFamily(
            "stream_batcher_ticks", "Batched engine calls made", value=self._batcher.ticks
        )
        yield CounterMetricFamily(
            "stream_batcher_calls", "Session calls those ticks served", value=self._batcher.calls
        )


class ServerMetrics:
    def __init__(self, slots: SessionSlots, batcher: BatchingStats, jobs: JobStore | None):
        self.registry = prometheus_client.CollectorRegistry()
        # Both changed on the event loop only; their keys never change, so a scrape from the
        # HTTP thread can read them as they are.
        self._running = {"session": 0, "job": 0}
        self._sessions = dict.fromkeys(SESSION_STATES, 0)
        self.registry.register(_Live(slots, batcher, self._running, self._sessions, jobs))
        self._calls = prometheus_client.Counter(
            "stream_calls",
            "Calls ended, by method and status code",
            ["method", "code"],
            registry=self.registry,
        )
        self._chunk_latency = prometheus_client.Histogram(
            "stream_chunk_latency_seconds",
            "Engine time to make one chunk (denoise, commit, decode)",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._frames = prometheus_client.Counter(
            "stream_frames_generated", "Frames generated and sent", registry=self.registry
        )
        self._http: WSGIServer | None = None

    def call_ended(self, method: str, code: str) -> None:
        self._calls.labels(method, code).inc()

    def chunk_sent(self, latency_ms: float, frames: int) -> None:
        self._chunk_latency.observe(latency_ms / 1000.0)
        self._frames.inc(frames)

    def running(self, kind: str, change: int) -> None:
        """A session or job ("session", "job") started (+1) or ended (-1)."""
        self._running[kind] += change

    @contextlib.contextmanager
    def session_state(self, state: str) -> Iterator[None]:
        """A live session is in `state` (SESSION_STATES) for the block."""
        self._sessions[state] += 1
        try:
            yield
        finally:
            self._sessions[state] -= 1

    def text(self) -> str:
        """The exposition text a scrape would get."""
        return prometheus_client.generate_latest(self.registry).decode()

    def serve(self, host: str, port: int) -> int:
        """Serves /metrics over HTTP on its own thread; returns the bound port (0 picks one)."""
        self._http, _ = prometheus_client.start_http_server(port, host, self.registry)
        return self._http.server_port

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
