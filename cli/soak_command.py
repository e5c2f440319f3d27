"""`stream soak`: many live sessions for minutes, or many fuzzed calls, against one server.

Sessions: each pushes one frame, then in a loop asks for a chunk's worth of frames and pushes
four more real ones (so its context keeps rolling), until the time is up. Reported: errors by
status code, the server's chunk latency (Chunk.latency_ms: engine time, what a client waits per
chunk) p50/p99, and the server's resident memory at minute 1 (before it, caches and allocators
are still filling) against the end. Fuzz: lab/fuzz.py's calls, counted by status code.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import pathlib
import tempfile
import threading
import time
from collections.abc import Iterator

import grpc
import numpy as np

from cli.connect import client_from_args
from serve.client import StreamClient
from serve.settings import DEFAULT_MAX_SESSIONS, ServerSettings

_MEMORY_EVERY_SECONDS = 5.0
_BASELINE_SECONDS = 60.0  # memory growth is measured from here (or half the run, if shorter)
_ERROR_PAUSE_SECONDS = 0.5  # before a session that failed opens again
_EXPECTED_FUZZ = {"OK", "INVALID_ARGUMENT", "NOT_FOUND", "RESOURCE_EXHAUSTED"}


def run_soak(args: argparse.Namespace) -> int:
    if args.sessions < 1:
        raise ValueError(f"--sessions={args.sessions} is out of range; accepted: >= 1")
    if not args.minutes > 0:
        raise ValueError(f"--minutes={args.minutes} is out of range; accepted: > 0")
    if args.fuzz is not None and args.fuzz < 1:
        raise ValueError(f"--fuzz={args.fuzz} is out of range; accepted: >= 1")
    if args.fuzz is not None and (args.token_file or args.tls_ca):
        raise ValueError(
            "--fuzz sends raw calls without a token or TLS; accepted: a plaintext server "
            "without --token-file"
        )
    with _server(args) as (client, pid):
        if args.fuzz is not None:
            return _fuzz(client, args.fuzz, pid)
        return _sessions(client, args.sessions, args.minutes * 60.0, pid)


@contextlib.contextmanager
def _server(args: argparse.Namespace) -> Iterator[tuple[StreamClient, int | None]]:
    """A client of --server, or of a server started here (with a job store of its own, so that
    resumes reach it); and the process id whose memory is read, if known."""
    if args.server is not None:
        with client_from_args(args) as client:
            yield client, args.server_pid
        return
    from serve.background import BackgroundServer
    from serve.compile_cache import enable_compilation_cache
    from stream import Engine

    if args.compilation_cache:
        enable_compilation_cache(args.compilation_cache)
    engine = Engine.load(args.checkpoint, slots=args.slots, workers=args.workers)
    with tempfile.TemporaryDirectory(prefix="stream-soak-jobs-") as jobs:
        settings = ServerSettings(
            port=0,
            max_sessions=max(args.sessions, DEFAULT_MAX_SESSIONS),
            job_store=pathlib.Path(jobs),
        )
        print(f"soak: starting a server on {engine.name!r} in this process...", flush=True)
        with (
            BackgroundServer(engine, settings) as server,
            StreamClient(server.target) as client,
        ):
            yield client, os.getpid()


def _resident_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def _fuzz(client: StreamClient, count: int, pid: int | None) -> int:
    from lab.fuzz import fuzz  # hypothesis: a dev dependency, needed by this mode only

    by_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    memory_before = _resident_mib(pid)
    started = time.monotonic()
    with grpc.insecure_channel(client.target) as channel:
        fuzz(channel, count, lambda kind, code: by_kind[kind].update([code.name]))
    seconds = time.monotonic() - started
    total: collections.Counter[str] = sum(by_kind.values(), collections.Counter())
    try:
        health = client.health(timeout=10)
    except grpc.RpcError as error:
        health = f"not answering ({error.code().name})"
    print(f"fuzz: {sum(total.values())} calls to {client.target} in {seconds:.0f} s")
    for kind, codes in sorted(by_kind.items()):
        print(f"  {kind:8s} {sum(codes.values()):6d}: {_counts(codes)}")
    print(f"  by status code: {_counts(total)}")
    unexpected = {code: n for code, n in total.items() if code not in _EXPECTED_FUZZ}
    print(f"  unexpected codes (UNKNOWN, INTERNAL, ...): {_counts(unexpected) or 'none'}")
    memory_after = _resident_mib(pid)
    if memory_before is not None and memory_after is not None:
        print(f"  resident memory: {memory_before:.0f} MiB before, {memory_after:.0f} MiB after")
    print(f"  server health after: {health}")
    return 0 if not unexpected and health == "SERVING" else 1


def _counts(codes: dict[str, int]) -> str:
    return ", ".join(f"{code} {n}" for code, n in sorted(codes.items(), key=lambda kv: -kv[1]))


class _Tally:
    """What the session threads saw; guarded by a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.errors: collections.Counter[str] = collections.Counter()
        self.latencies_ms: list[float] = []
        self.requests = 0


def _frames(size: int, count: int) -> np.ndarray:
    """count frames of a smoothly moving pattern, uint8 (count, size, size, 3)."""
    t = np.arange(count)[:, None, None, None]
    y, x = np.mgrid[0:size, 0:size]
    wave = np.sin((x[None, ..., None] + 3 * t) / 6.0 + np.arange(3) * 2.0)
    return (128 + 100 * wave + 20 * np.cos(y[None, ..., None] / 5.0)).astype(np.uint8)


def _session_loop(
    client: StreamClient,
    index: int,
    frames: np.ndarray,
    per_chunk: int,
    until: float,
    tally: _Tally,
) -> None:
    pushed = 0
    while time.monotonic() < until:
        try:
            with client.session(seed=index) as live:
                live.push(frames[pushed % len(frames)][None])
                pushed += 1
                while time.monotonic() < until:
                    latencies = [chunk.latency_ms for chunk in live.extend(per_chunk)]
                    start = pushed % (len(frames) - 4)
                    live.push(frames[start : start + 4])
                    pushed += 4
                    with tally.lock:
                        tally.latencies_ms.extend(latencies)
                        tally.requests += 2
        except grpc.RpcError as error:
            with tally.lock:
                tally.errors[error.code().name] += 1
            time.sleep(_ERROR_PAUSE_SECONDS)


def _sessions(client: StreamClient, sessions: int, seconds: float, pid: int | None) -> int:
    info = client.info()
    frames = _frames(info.image_size, 64)
    tally = _Tally()
    started = time.monotonic()
    until = started + seconds
    threads = [
        threading.Thread(
            target=_session_loop,
            args=(client, i, frames, info.frames_per_chunk, until, tally),
            daemon=True,
        )
        for i in range(sessions)
    ]
    for thread in threads:
        thread.start()
    memory: list[tuple[float, float]] = []  # (seconds since start, MiB)
    while any(thread.is_alive() for thread in threads):
        mib = _resident_mib(pid)
        if mib is not None:
            memory.append((time.monotonic() - started, mib))
        for thread in threads:
            thread.join(timeout=_MEMORY_EVERY_SECONDS / len(threads))
    if (mib := _resident_mib(pid)) is not None:
        memory.append((time.monotonic() - started, mib))
    print(
        f"soak: {sessions} sessions for {seconds / 60:g} min on {client.target} "
        f"(model {info.name!r})"
    )
    errors = sum(tally.errors.values())
    print(
        f"  requests: {tally.requests} (pushes and extensions), chunks: "
        f"{len(tally.latencies_ms)}; errors by status code: {_counts(tally.errors) or 'none'}"
    )
    if tally.latencies_ms:
        p50, p99 = np.percentile(tally.latencies_ms, [50, 99])
        print(
            f"  chunk latency (server): p50 {p50:.1f} ms, p99 {p99:.1f} ms (p99/p50 "
            f"{p99 / p50:.2f})"
        )
    if memory:
        baseline_at = min(_BASELINE_SECONDS, seconds / 2)
        baseline = next((mib for at, mib in memory if at >= baseline_at), memory[-1][1])
        end = memory[-1][1]
        print(
            f"  resident memory (process {pid}): {baseline:.0f} MiB at {baseline_at:g} s, "
            f"{end:.0f} MiB at the end ({(end - baseline) / baseline:+.1%})"
        )
    else:
        print("  resident memory: not read (give --server-pid for a server on this machine)")
    return 0 if errors == 0 else 1
