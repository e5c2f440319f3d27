"""`stream bench --sessions` over gRPC: the same load as the in-process measurement
(stream/lab/bench.py, measure_sessions), through a real server on a loopback port.

Each session is a live client: it pushes the same primed frames, takes one chunk to warm up,
then asks for `chunks` chunks in one request while every other session does the same.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import numpy as np

from serve.background import BackgroundServer
from serve.client import StreamClient
from serve.settings import ServerSettings
from stream import Engine
from stream.lab.bench import latency_summary, primed_frames, with_gflops


def measure_grpc_sessions(
    client: StreamClient, frames: np.ndarray, frames_per_chunk: int, sessions: int, chunks: int
) -> dict[str, Any]:
    start = threading.Barrier(sessions + 1)
    received = [0] * sessions
    latencies: list[list[float]] = [[] for _ in range(sessions)]
    failures: list[BaseException] = []

    def play(index: int) -> None:
        try:
            with client.session(seed=index) as live:
                live.push(frames)
                for _ in live.extend(frames_per_chunk):
                    pass
                start.wait()
                for chunk in live.extend(chunks * frames_per_chunk):
                    received[index] += len(chunk.frames)
                    latencies[index].append(chunk.latency_ms)
        except BaseException as error:  # reported after the others finish
            failures.append(error)
            start.abort()

    threads = [threading.Thread(target=play, args=(i,)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    elapsed = time.perf_counter() - began
    return {
        "sessions": sessions,
        "frames_per_s": sum(received) / elapsed,
        "chunks_per_s": sessions * chunks / elapsed,
        **latency_summary([ms for each in latencies for ms in each]),
    }


def run_grpc_sessions(
    engine: Engine, counts: list[int], chunks: int, flops_per_chunk: dict[str, float]
) -> list[dict[str, Any]]:
    """One loopback server for all counts (admitting the largest), one row per count."""
    settings = ServerSettings(port=0, max_sessions=max(counts))
    frames = primed_frames(engine)
    rows = []
    with BackgroundServer(engine, settings) as server, StreamClient(server.target) as client:
        for count in counts:
            row = measure_grpc_sessions(
                client, frames, engine.config.frames_per_chunk, count, chunks
            )
            rows.append(with_gflops(row, flops_per_chunk))
    return rows
