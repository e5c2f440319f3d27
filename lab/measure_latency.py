"""Per-chunk latency of a server under N concurrent live sessions.

    python -m lab.measure_latency --server 127.0.0.1:50051 --sessions 1 8 --rounds 10

Each session plays the shipped sample clip in a loop as a live client would: it pushes the real
frames of one chunk, then asks for one chunk of continuation, round after round, all sessions at
once. Pushes keep whole encoder groups (1 + 4k frames, then multiples of 4), so every request is
answered by exactly one freshly generated chunk. Reported per load level:
- chunk latency: the server's time to make a chunk (denoise, commit, decode);
- round trip: from sending the request to holding the chunk, as the client sees it;
- health round trip while loaded: how responsive the server stays;
- throughput: generated frames per second over all sessions.
The first round of each session is left out (it includes the session's first decoder catch-up).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import numpy as np

from serve.client import StreamClient
from stream.media.video_io import read_video, sample_clip_path


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _play(
    client: StreamClient,
    clip: np.ndarray,
    per_chunk: int,
    rounds: int,
    seed: int,
    start: threading.Barrier,
    out: dict[str, list[float]],
) -> None:
    with client.session(seed=seed) as live:
        live.push(clip[:1])
        start.wait()
        position = 1
        for round_index in range(rounds + 1):
            frames = np.take(clip, range(position, position + per_chunk), axis=0, mode="wrap")
            position += per_chunk
            live.push(frames)
            sent = time.perf_counter()
            (chunk,) = list(live.extend(per_chunk))
            if round_index:
                out["round_trip_ms"].append((time.perf_counter() - sent) * 1000.0)
                out["latency_ms"].append(chunk.latency_ms)


def _probe_health(client: StreamClient, stop: threading.Event, out: list[float]) -> None:
    while not stop.wait(0.25):
        sent = time.perf_counter()
        client.health()
        out.append((time.perf_counter() - sent) * 1000.0)


def measure(client: StreamClient, sessions: int, rounds: int) -> dict[str, float]:
    info = client.info()
    clip, _ = read_video(sample_clip_path(), size=info.image_size)
    results = {"latency_ms": [], "round_trip_ms": []}
    health_ms: list[float] = []
    start = threading.Barrier(sessions + 1)
    players = [
        threading.Thread(
            target=_play,
            args=(client, clip, info.frames_per_chunk, rounds, seed, start, results),
        )
        for seed in range(sessions)
    ]
    for player in players:
        player.start()
    start.wait()
    began = time.perf_counter()
    stop = threading.Event()
    prober = threading.Thread(target=_probe_health, args=(client, stop, health_ms))
    prober.start()
    for player in players:
        player.join()
    elapsed = time.perf_counter() - began
    stop.set()
    prober.join()
    latency, round_trip = results["latency_ms"], results["round_trip_ms"]
    return {
        "sessions": sessions,
        "chunks": len(latency),
        "latency_median_ms": statistics.median(latency),
        "latency_p90_ms": _percentile(latency, 90),
        "round_trip_median_ms": statistics.median(round_trip),
        "round_trip_p90_ms": _percentile(round_trip, 90),
        "health_median_ms": statistics.median(health_ms) if health_ms else float("nan"),
        "health_max_ms": max(health_ms, default=float("nan")),
        "frames_per_second": sessions * (rounds + 1) * info.frames_per_chunk / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, metavar="HOST:PORT")
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=10, help="chunks per session (default 10)")
    args = parser.parse_args()
    with StreamClient(args.server) as client:
        client.wait_until_serving()
        for sessions in args.sessions:
            row = measure(client, sessions, args.rounds)
            print(
                f"{sessions} session(s), {row['chunks']} chunks: chunk latency median "
                f"{row['latency_median_ms']:.0f} ms (p90 {row['latency_p90_ms']:.0f}); round "
                f"trip median {row['round_trip_median_ms']:.0f} ms (p90 "
                f"{row['round_trip_p90_ms']:.0f}); health check median "
                f"{row['health_median_ms']:.1f} ms (max {row['health_max_ms']:.1f}); "
                f"{row['frames_per_second']:.1f} generated frames/s in all",
                flush=True,
            )


if __name__ == "__main__":
    main()
