"""`stream bench`: what every stage of the live loop costs on this machine.

Times are medians of repeated runs after warm-up; GFLOP/s come from XLA's own cost analysis of the
compiled stage, next to the machine's float32 matmul peak measured in the same run. "Generated
frames per second" counts the whole loop (denoise, commit, decode); "denoise-only" leaves out
commit and decode, because reports in this field often mean that one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm import tqdm

from stream.lab.stages import Stages
from stream.media.worlds import make_world
from stream.model.layout import history_then_chunk, sequence_segments
from stream.runtime.engine import Engine


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def _flops(jitted: Any, *args: Any) -> float:
    analysis = jitted.lower(*args).compile().cost_analysis()
    if isinstance(analysis, list):
        analysis = analysis[0]
    return float(analysis.get("flops", 0.0)) if analysis else 0.0


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (size, size), jnp.float32)
    matmul = jax.jit(jnp.matmul)
    return 2 * size**3 / _median_ms(lambda: matmul(a, b), repeats) / 1e6


def _stage(name: str, ms: float, flops: float, per: str) -> dict[str, Any]:
    return {
        "stage": name,
        "per": per,
        "ms": ms,
        "flops": flops,
        "gflops_per_s": flops / ms / 1e6 if ms else 0.0,
    }


def measure_stages(engine: Engine, repeats: int) -> list[dict[str, Any]]:
    config, stages = engine.config, Stages(engine)
    size, latent = config.image_size, config.dit.latent_size
    channels, window = config.dit.latent_channels, config.dit.window_frames
    frames4 = jnp.zeros((1, 4, size, size, 3), jnp.float32)
    encoder = stages.encode(frames4[:, :1], stages.new_encoder_state())[1]
    z = jax.random.normal(jax.random.key(0), (1, config.dit.chunk_frames, latent, latent, channels))
    cache = stages.new_cache()
    for _ in range(window + 1):  # a full ring and a live anchor slot: the steady state
        cache = stages.commit(cache, z[:, :1], window, True, 0)
    decoder = stages.decode(z[:, :1], stages.new_decoder_state())[1]
    z0 = z[0, 0]
    scalars = (np.float32(0.5), np.float32(0.25), np.int32(window), np.bool_(True))
    origin = z[:, :1]  # (1, 1, h, w, C)
    denoise_args = (engine.dit_params, cache, z, *scalars, z0, np.float32(1.0), origin)
    commit_args = (
        engine.dit_params,
        cache,
        z[:, :1],
        np.int32(window),
        np.bool_(True),
        np.uint32(0),
    )
    return [
        _stage(
            "encode",
            _median_ms(lambda: stages.encode(frames4, encoder), repeats) / 4,
            _flops(stages.programs["encode"], engine.vae_params, frames4, encoder) / 4,
            "frame",
        ),
        _stage(
            "DiT step",
            _median_ms(
                lambda: stages.denoise(cache, z, 0.5, 0.25, window, True, z0, 1.0, origin), repeats
            ),
            _flops(stages.programs["denoise"], *denoise_args),
            f"chunk of {config.dit.chunk_frames} latent frames",
        ),
        _stage(
            "commit",
            _median_ms(lambda: stages.commit(cache, z[:, :1], window, True, 0), repeats),
            _flops(stages.programs["commit"], *commit_args),
            "latent frame",
        ),
        _stage(
            "decode",
            _median_ms(lambda: stages.decode(z[:, :1], decoder), repeats) / 4,
            _flops(stages.programs["decode"], engine.vae_params, z[:, :1], decoder) / 4,
            "frame",
        ),
    ]


def primed_frames(engine: Engine) -> np.ndarray:
    """World frames filling the model's whole window, uint8 (1 + 4W, S, S, 3): the steady state."""
    config = engine.config
    world = make_world("sprites", seed=0, size=config.image_size)
    return world.frames(0, 1 + 4 * config.dit.window_frames)


def _open_primed(engine: Engine, seed: int = 0):
    """A session that has seen a full window of world frames; its endless chunk generator."""
    session = engine.open(anchor="both", seed=seed)
    session.push(primed_frames(engine))
    return session, session.stream(10**9)


def measure_rollout(engine: Engine, chunks: int, early: int, pairs: int = 20) -> dict[str, Any]:
    """Throughput over `chunks` chunks of one session, then per-chunk latency early vs late.

    Latency is compared in alternation: one chunk of a fresh session at chunk `early`, one of
    the long session past chunk `chunks`, and again, so load that drifts over minutes on a shared
    machine falls equally on both sides of the ratio.
    """
    late_session, late = _open_primed(engine)
    next(late)  # compiles the chunk program, which the stage timings above do not
    frames = 0
    start = time.perf_counter()
    for _ in tqdm(range(chunks), desc="rollout", unit="chunk", leave=False):
        frames += len(next(late))
    elapsed = time.perf_counter() - start
    early_session, early_chunks = _open_primed(engine)
    for _ in range(early):
        next(early_chunks)
    latencies: dict[str, list[float]] = {"early": [], "late": []}
    for _ in range(pairs):
        for name, session, generator in (
            ("early", early_session, early_chunks),
            ("late", late_session, late),
        ):
            next(generator)
            latencies[name].append(session.last_chunk.latency_ms)
    return {
        "chunks": chunks,
        "frames": frames,
        "frames_per_s": frames / elapsed,
        "latency_ms_at_chunk": {
            str(early): float(np.median(latencies["early"])),
            str(chunks): float(np.median(latencies["late"])),
        },
    }


def chunk_flops(engine: Engine) -> dict[str, float]:
    """FLOPs of one chunk at the default steps: "dit" (every Euler step and every commit) and
    "all" (with the decoder's, which on a CPU costs more than the DiT's)."""
    stages = {row["stage"]: row for row in measure_stages(engine, repeats=1)}
    config = engine.config
    dit = (
        config.sampler.steps * stages["DiT step"]["flops"]
        + config.dit.chunk_frames * stages["commit"]["flops"]
    )
    return {"dit": dit, "all": dit + config.frames_per_chunk * stages["decode"]["flops"]}


def with_gflops(row: dict[str, Any], flops: dict[str, float]) -> dict[str, Any]:
    """A load's row with its chunks/s turned into achieved GFLOP/s of the DiT and of it all."""
    chunks_per_s = row.pop("chunks_per_s")
    return {**row, **{f"{k}_gflops_per_s": v * chunks_per_s / 1e9 for k, v in flops.items()}}


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": float(np.percentile(latencies_ms, 50)),
        "p99_ms": float(np.percentile(latencies_ms, 99)),
    }


def measure_sessions(engine: Engine, sessions: int, chunks: int) -> dict[str, Any]:
    """`sessions` primed sessions in their own threads, each streaming `chunks` chunks at once,
    as the server runs them: aggregate generated frames/s and per-chunk latency."""
    opened = [_open_primed(engine, seed) for seed in range(sessions)]
    for _, chunk_stream in opened:
        next(chunk_stream)  # the first chunk of a fresh prediction compiles nothing new
    start = threading.Barrier(sessions + 1)
    frames = [0] * sessions
    latencies: list[list[float]] = [[] for _ in range(sessions)]

    def play(index: int) -> None:
        session, chunk_stream = opened[index]
        start.wait()
        for _ in range(chunks):
            frames[index] += len(next(chunk_stream))
            latencies[index].append(session.last_chunk.latency_ms)

    threads = [threading.Thread(target=play, args=(i,)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return {
        "sessions": sessions,
        "frames_per_s": sum(frames) / elapsed,
        "chunks_per_s": sessions * chunks / elapsed,
        **latency_summary([ms for each in latencies for ms in each]),
    }


def run_sessions_bench(engine: Engine, counts: Sequence[int], chunks: int) -> dict[str, Any]:
    """measure_sessions for each count, with the DiT's achieved GFLOP/s against the peak."""
    peak = matmul_peak_gflops()
    flops = chunk_flops(engine)
    rows = [
        with_gflops(measure_sessions(engine, count, chunks), flops)
        for count in tqdm(counts, desc="sessions", unit="load", leave=False)
    ]
    return {
        "model": engine.name,
        "device": str(jax.devices()[0]),
        "slots": engine.batcher.slots,
        "workers": engine.batcher.workers,
        "matmul_peak_gflops_per_s": peak,
        "flops_per_chunk": flops,
        "in_process": rows,
    }


def format_sessions_report(report: dict[str, Any]) -> str:
    peak = report["matmul_peak_gflops_per_s"]
    lines = [
        f"model: {report['model']}",
        f"device: {report['device']}; {report['slots']} slots per compiled call, "
        f"{report['workers']} calls in flight; float32 matmul peak {peak:.0f} GFLOP/s",
        "",
        f"{'path':<11} {'sessions':>8} {'frames/s':>9} {'x one':>6} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'DiT GFLOP/s':>11} {'% peak':>7} {'all GFLOP/s':>11} {'% peak':>7}",
    ]
    for path in ("in_process", "grpc"):
        rows = report.get(path, [])
        for row in rows:
            ratio = row["frames_per_s"] / rows[0]["frames_per_s"]
            lines.append(
                f"{path:<11} {row['sessions']:>8} {row['frames_per_s']:>9.1f} {ratio:>6.2f} "
                f"{row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} {row['dit_gflops_per_s']:>11.1f} "
                f"{100 * row['dit_gflops_per_s'] / peak:>6.1f}% {row['all_gflops_per_s']:>11.1f} "
                f"{100 * row['all_gflops_per_s'] / peak:>6.1f}%"
            )
    return "\n".join(lines)


def measure_recompute_speedup(
    engine: Engine, history: int, stages: dict[str, float], repeats: int
) -> dict[str, Any]:
    """One chunk by the cache vs by recomputing attention over the whole latent history."""
    config = engine.config
    chunk, steps = config.dit.chunk_frames, config.sampler.steps
    latent, channels = config.dit.latent_size, config.dit.latent_channels
    segments = sequence_segments(
        config.dit, history_then_chunk(history, chunk), np.int32(history), np.bool_(True)
    )  # a window as long as the history: the reference sees all of it
    graphdef = engine.dit_def

    def reference_step(params, latents, s):
        return nnx.merge(graphdef, params)(latents, s, segments)[0]

    reference = jax.jit(reference_step)
    latents = jax.random.normal(jax.random.key(0), (1, history + chunk, latent, latent, channels))
    s = jnp.concatenate([jnp.zeros((1, history)), jnp.full((1, chunk), 0.5)], axis=1)
    reference_ms = _median_ms(
        lambda: reference(engine.dit_params, latents, s), max(2, repeats // 4)
    )
    cached_chunk_ms = steps * stages["DiT step"] + chunk * stages["commit"]
    return {
        "history_latent_frames": history,
        "reference_step_ms": reference_ms,
        "cached_step_ms": stages["DiT step"],
        "reference_chunk_ms": steps * reference_ms,
        "cached_chunk_ms": cached_chunk_ms,
        "speedup": steps * reference_ms / cached_chunk_ms,
    }


def run_bench(
    engine: Engine, chunks: int = 500, early: int = 10, history: int = 64, repeats: int = 20
) -> dict[str, Any]:
    peak = matmul_peak_gflops()
    stages = measure_stages(engine, repeats)
    speedup = measure_recompute_speedup(
        engine, history, {row["stage"]: row["ms"] for row in stages}, repeats
    )
    rollout = measure_rollout(engine, chunks, early)
    steps = engine.config.sampler.steps
    step_ms = next(row["ms"] for row in stages if row["stage"] == "DiT step")
    return {
        "model": engine.name,
        "device": str(jax.devices()[0]),
        "devices": jax.device_count(),
        "matmul_peak_gflops_per_s": peak,
        "stages": stages,
        "denoise_only_frames_per_s": engine.config.frames_per_chunk / (steps * step_ms / 1000.0),
        "rollout": rollout,
        "recompute": speedup,
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"model: {report['model']}",
        f"device: {report['device']} x{report['devices']}; float32 matmul peak "
        f"{report['matmul_peak_gflops_per_s']:.0f} GFLOP/s (2048x2048, median of 10)",
        "",
        f"{'stage':<10} {'ms':>9} {'GFLOP/s':>9} {'% peak':>7}  per",
    ]
    for row in report["stages"]:
        share = 100 * row["gflops_per_s"] / report["matmul_peak_gflops_per_s"]
        lines.append(
            f"{row['stage']:<10} {row['ms']:>9.2f} {row['gflops_per_s']:>9.1f} {share:>6.0f}%  "
            f"{row['per']}"
        )
    rollout, recompute = report["rollout"], report["recompute"]
    early, late = rollout["latency_ms_at_chunk"].items()
    lines += [
        "",
        "generated frames/s, whole loop (denoise + commit + decode): "
        f"{rollout['frames_per_s']:.1f}",
        f"generated frames/s, denoising only: {report['denoise_only_frames_per_s']:.1f}",
        f"latency per chunk at chunk {early[0]}: {early[1]:.1f} ms; at chunk {late[0]}: "
        f"{late[1]:.1f} ms (ratio {late[1] / early[1]:.3f})",
        f"cached vs recompute at {recompute['history_latent_frames']} latent frames of history: "
        f"{recompute['cached_chunk_ms']:.1f} ms vs {recompute['reference_chunk_ms']:.1f} ms "
        f"per chunk, speedup {recompute['speedup']:.1f}x",
    ]
    return "\n".join(lines)
