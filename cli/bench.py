"""`stream bench`: every stage of the live loop measured on this machine (stream/lab/bench.py), or,
with --sessions, throughput and latency of many sessions at once, in process and over gRPC."""

from __future__ import annotations

import argparse
import json

from cli.options import add_batching_options, add_checkpoint_option, check_batching_options


def add_parser(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser(
        "bench",
        help="measure every stage of the live loop on this machine",
        description="Milliseconds and GFLOP/s per stage, frames per second, per-chunk latency "
        "early and late in a long stream, and the cached-vs-recompute speedup, next to the "
        "machine's measured float32 matmul peak. With --sessions: aggregate generated frames/s, "
        "p50/p99 chunk latency and the DiT's GFLOP/s for each number of sessions streaming at "
        "once, in process and over gRPC on a loopback port.",
    )
    add_checkpoint_option(bench)
    bench.add_argument(
        "--chunks",
        type=int,
        help="chunks to generate (default 500; with --sessions, 40 per session)",
    )
    bench.add_argument("--early", type=int, default=10, help="early chunk to compare (default 10)")
    bench.add_argument(
        "--history",
        type=int,
        default=64,
        help="latent frames of history for the recompute comparison (default 64)",
    )
    bench.add_argument(
        "--sessions",
        type=int,
        nargs="+",
        metavar="N",
        help="measure these numbers of sessions streaming at once instead, e.g. 1 2 4 8",
    )
    bench.add_argument("--no-grpc", action="store_true", help="with --sessions: in process only")
    add_batching_options(bench)
    bench.add_argument("--json", action="store_true", help="print the report as JSON")
    bench.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from stream import Engine

    check_batching_options(args)
    if args.sessions is not None and min(args.sessions) < 1:
        raise ValueError(f"--sessions {args.sessions}: every count must be >= 1")
    engine = Engine.load(args.checkpoint, slots=args.slots, workers=args.workers)
    if args.sessions is None:
        from stream.lab.bench import format_report, run_bench

        chunks = 500 if args.chunks is None else args.chunks
        report = run_bench(engine, chunks=chunks, early=args.early, history=args.history)
        print(json.dumps(report, indent=2) if args.json else format_report(report))
        return 0
    from stream.lab.bench import format_sessions_report, run_sessions_bench

    chunks = 40 if args.chunks is None else args.chunks
    report = run_sessions_bench(engine, args.sessions, chunks)
    if not args.no_grpc:
        from lab.grpc_bench import run_grpc_sessions

        report["grpc"] = run_grpc_sessions(engine, args.sessions, chunks, report["flops_per_chunk"])
    print(json.dumps(report, indent=2) if args.json else format_sessions_report(report))
    return 0
