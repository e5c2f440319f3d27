"""`stream drift`: the drift lab, in this process (stream/lab/drift_run.py) or through a
server's live sessions (--server, serve/wire_drift.py)."""

from __future__ import annotations

import argparse
import json
import pathlib
from typing import TYPE_CHECKING, Any

from serve.cli.options import add_checkpoint_option, add_client_options
from stream.media.worlds import WORLD_FAMILIES
from stream.runtime.anchor import ANCHOR_MODES

if TYPE_CHECKING:
    from stream.lab.drift import DriftSettings


def add_parser(commands: argparse._SubParsersAction) -> None:
    drift = commands.add_parser(
        "drift",
        help="measure how rollout error grows over minutes, per anchor mode",
        description="Roll out world videos with exact ground truth for minutes in every anchor "
        "mode; record ||eps_t|| against the truth, PSNR, the anchor penalty and a colour "
        "identity measure; fit a e^(lambda t) + b and c t^alpha + d up to saturation; estimate "
        "rho(J) of the one-chunk map by power iteration with jax.jvp; run twin rollouts. Writes "
        "CSV series, summary.json and drift.png. With --server, the rollouts run through the "
        "server's live sessions (no rho(J), no twins).",
    )
    add_checkpoint_option(drift)
    add_client_options(drift, server_required=False)
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
    drift.add_argument(
        "--saturation-fraction",
        type=float,
        default=0.5,
        help="fit the growth laws below this fraction of the error's ceiling, the distance "
        "between unrelated true frames (default 0.5)",
    )
    drift.add_argument("--out", default="drift_results", help="results folder")
    drift.add_argument("--json", action="store_true", help="print the summary as JSON")
    drift.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = pathlib.Path(args.out)
    if args.server is None:
        from stream.lab.drift_run import run_drift
        from stream.runtime.engine import Engine

        engine = Engine.load(args.checkpoint)
        summary = run_drift(engine, _settings(args), out, args.clip)
        files = "series.csv, rho.csv, twin.csv, summary.json, drift.png"
    else:
        from serve.cli.connect import client_from_args
        from serve.wire_drift import run_wire_drift

        if args.clip is not None:
            raise ValueError("--clip runs only locally: leave out --server to measure a clip")
        with client_from_args(args) as client:
            summary = run_wire_drift(client, _settings(args), out)
        files = "series.csv, server_latent_eps.csv, summary.json, drift.png"
    _print_summary(args, summary, files)
    return 0


def _settings(args: argparse.Namespace) -> DriftSettings:
    from stream.lab.drift import DriftSettings

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
        saturation_fraction=args.saturation_fraction,
    )


def _print_summary(args: argparse.Namespace, summary: dict[str, Any], files: str) -> None:
    from stream.lab.drift_run import format_summary

    print(json.dumps(summary, indent=2, default=float) if args.json else format_summary(summary))
    print(f"results: {args.out}/ ({files})")
