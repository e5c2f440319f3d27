"""The engine's commands of the `stream` command line (bench; eval and drift as they come).

The console script itself lives in serve/cli.py, the outermost layer, which adds the commands
that need gRPC; this module never imports them.
"""

from __future__ import annotations

import argparse
import json


def add_checkpoint_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        default=None,
        metavar="DIR",
        help="model checkpoint folder (default: the model shipped with the package)",
    )


def _bench(args: argparse.Namespace) -> int:
    from stream.bench import format_report, run_bench
    from stream.engine import Engine

    engine = Engine.load(args.checkpoint)
    report = run_bench(engine, chunks=args.chunks, early=args.early, history=args.history)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register the engine's commands; each sets `run` to a function of the parsed args."""
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
    bench.set_defaults(run=_bench)
