"""`stream bench`: every stage of the live loop measured on this machine (stream/bench.py)."""

from __future__ import annotations

import argparse
import json

from serve.cli.options import add_checkpoint_option


def add_parser(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser(
        "bench",
        help="measure every stage of the live loop on this machine",
        description="Milliseconds and GFLOP/s per stage, frames per second, per-chunk latency "
        "early and late in a long stream, and the cached-vs-recompute speedup, next to the "
        "machine's measured float32 matmul peak.",
    )
    add_checkpoint_option(bench)
    bench.add_argument("--chunks", type=int, default=500, help="chunks to generate (default 500)")
    bench.add_argument("--early", type=int, default=10, help="early chunk to compare (default 10)")
    bench.add_argument(
        "--history",
        type=int,
        default=64,
        help="latent frames of history for the recompute comparison (default 64)",
    )
    bench.add_argument("--json", action="store_true", help="print the report as JSON")
    bench.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from stream.bench import format_report, run_bench
    from stream.engine import Engine

    engine = Engine.load(args.checkpoint)
    report = run_bench(engine, chunks=args.chunks, early=args.early, history=args.history)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
