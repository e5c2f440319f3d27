"""The `stream` command line."""

from __future__ import annotations

import argparse
import json
import sys


def _add_checkpoint(parser: argparse.ArgumentParser) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stream",
        description="Streaming autoregressive video extension on JAX.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    bench = commands.add_parser(
        "bench",
        help="measure every stage of the live loop on this machine",
        description="Milliseconds and GFLOP/s per stage, frames per second, per-chunk latency "
        "early and late in a long stream, and the cached-vs-recompute speedup, next to the "
        "machine's measured float32 matmul peak.",
    )
    _add_checkpoint(bench)
    bench.add_argument("--chunks", type=int, default=500, help="chunks to generate (default 500)")
    bench.add_argument("--early", type=int, default=10, help="early chunk to compare (default 10)")
    bench.add_argument(
        "--history", type=int, default=64, help="latent frames of history for the recompute "
        "comparison (default 64)"
    )
    bench.add_argument("--json", action="store_true", help="print the report as JSON")
    bench.set_defaults(run=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ValueError as error:
        print(f"stream {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
