"""The engine's commands of the `stream` command line (bench; eval and drift as they come).

The console script itself lives in serve/cli.py, the outermost layer, which adds the commands
that need gRPC; this module never imports them.
"""

from __future__ import annotations

import argparse
import json
import pathlib

from stream.evaluation import add_eval_command


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


def drift_settings(args: argparse.Namespace):
    """The DriftSettings that `stream drift`'s options describe."""
    from stream.drift import DriftSettings

    return DriftSettings(
        minutes=args.minutes,
        seeds=tuple(args.seeds),
        modes=tuple(args.modes),
        family=args.family,
        jacobian_every=args.jacobian_every,
        power_iterations=args.power_iterations,
        twin_chunks=args.twin_chunks,
        window=args.window,
        steps=args.steps,
    )


def print_drift_summary(args: argparse.Namespace, summary: dict, files: str) -> None:
    from stream.drift_run import format_summary

    print(json.dumps(summary, indent=2, default=float) if args.json else format_summary(summary))
    print(f"results: {args.out}/ ({files})")


def _drift(args: argparse.Namespace) -> int:
    from stream.drift_run import run_drift
    from stream.engine import Engine

    engine = Engine.load(args.checkpoint)
    summary = run_drift(engine, drift_settings(args), pathlib.Path(args.out), args.clip)
    print_drift_summary(args, summary, "series.csv, rho.csv, twin.csv, summary.json, drift.png")
    return 0


def _add_drift(commands: argparse._SubParsersAction) -> None:
    from stream.anchor import ANCHOR_MODES
    from stream.worlds import WORLD_FAMILIES

    drift = commands.add_parser(
        "drift",
        help="measure how rollout error grows over minutes, per anchor mode",
        description="Roll out world videos with exact ground truth for minutes in every anchor "
        "mode; record ||eps_t|| against the truth, PSNR, the anchor penalty and a colour "
        "identity measure; fit a e^(lambda t) + b and c t^alpha + d up to saturation; estimate "
        "rho(J) of the one-chunk map by power iteration with jax.jvp; run twin rollouts. Writes "
        "CSV series, summary.json and drift.png.",
    )
    add_checkpoint_option(drift)
    drift.add_argument("--minutes", type=float, default=5.0, help="rollout length (default 5)")
    drift.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="world seeds (default 0 1 2)"
    )
    drift.add_argument(
        "--modes",
        nargs="+",
        default=list(ANCHOR_MODES),
        choices=ANCHOR_MODES,
        metavar="MODE",
        help=f"anchor modes (default all: {' '.join(ANCHOR_MODES)})",
    )
    drift.add_argument("--family", default="sprites", choices=WORLD_FAMILIES, help="world family")
    drift.add_argument("--clip", default=None, help="also measure on this real video file")
    drift.add_argument(
        "--jacobian-every", type=int, default=100, help="chunks between rho(J) estimates"
    )
    drift.add_argument("--power-iterations", type=int, default=12, help="per rho(J) estimate")
    drift.add_argument("--twin-chunks", type=int, default=60, help="length of twin rollouts")
    drift.add_argument("--window", type=int, default=None, help="latent frames of context")
    drift.add_argument("--steps", type=int, default=None, help="Euler steps per chunk")
    drift.add_argument("--out", default="drift_results", help="results folder")
    drift.add_argument("--json", action="store_true", help="print the summary as JSON")
    drift.set_defaults(run=_drift)


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
    add_eval_command(commands, add_checkpoint_option)
    _add_drift(commands)
