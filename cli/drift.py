"""`stream drift`: the drift lab, in this process (stream/lab/drift_run.py) or through a
server's live sessions (--server, lab/wire_drift.py)."""

from __future__ import annotations

import argparse
import json
import pathlib
from typing import TYPE_CHECKING, Any

from cli.options import add_checkpoint_option, add_client_options
from stream import ANCHOR_MODES
from stream.media.worlds import WORLD_FAMILIES

SWEEP_PENALTIES = ("stats", "lowfreq")  # stream.lab.guidance_sweep.PENALTIES, without JAX

if TYPE_CHECKING:
    from stream.lab.drift import DriftSettings


def add_parser(commands: argparse._SubParsersAction) -> None:
    drift = commands.add_parser(
        "drift",
        help="measure how rollout error grows over minutes, per anchor mode",
        description="Roll out world videos with exact ground truth for minutes in every anchor "
        "mode; record ||eps_t|| against the truth and against its ceiling (the distance of "
        "unrelated true frames), PSNR, both anchor penalties, identity, motion and sharpness; fit "
        "a e^(lambda t) + b and c t^alpha + d below a fraction of the ceiling; estimate rho(J) "
        "of the one-chunk map by power iteration with jax.jvp until it settles, the top Lyapunov "
        "exponents (Benettin) and the linear theory's ||eps_t|| from the measured J and one-chunk "
        "errors; run twin rollouts; sweep the guidance strength per penalty. Writes CSV series, "
        "summary.json and drift.png. With --server, the rollouts run through the server's live "
        "sessions (no rho(J), twins, Lyapunov exponents, theory or sweep). Flags left out take "
        "their defaults, or with --quick those of a smoke run of a couple of minutes.",
    )
    add_checkpoint_option(drift)
    add_client_options(drift, server_required=False)
    drift.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 0.5 min, seed 0, small probes, sweep 0 30 300 for 0.25 min",
    )
    drift.add_argument("--minutes", type=float, help="rollout length (default 5)")
    drift.add_argument("--seeds", type=int, nargs="+", help="world seeds (default 0 1 2)")
    drift.add_argument(
        "--modes",
        nargs="+",
        choices=ANCHOR_MODES,
        metavar="MODE",
        help=f"anchor modes (default all: {' '.join(ANCHOR_MODES)})",
    )
    drift.add_argument("--family", choices=WORLD_FAMILIES, help="world family (default sprites)")
    drift.add_argument("--clip", default=None, help="also measure on this real video file")
    drift.add_argument(
        "--jacobian-every", type=int, help="chunks between rho(J) readings (default 100)"
    )
    drift.add_argument(
        "--power-iterations", type=int, help="at most, per rho(J) estimate (default 50)"
    )
    drift.add_argument(
        "--power-tolerance",
        type=float,
        help="rho(J) has settled when an iteration changes it by less than this (default 0.01)",
    )
    drift.add_argument("--twin-chunks", type=int, help="length of twin rollouts (default 60)")
    drift.add_argument("--window", type=int, help="latent frames of context")
    drift.add_argument("--steps", type=int, help="Euler steps per chunk")
    drift.add_argument(
        "--saturation-fraction",
        type=float,
        help="fit the growth laws below this fraction of the error's ceiling, the distance "
        "between unrelated true frames (default 0.5)",
    )
    drift.add_argument(
        "--lyapunov-k", type=int, help="Lyapunov exponents per rollout, 0 for none (default 8)"
    )
    drift.add_argument(
        "--lyapunov-chunks", type=int, help="chunks they are averaged over (default 40)"
    )
    drift.add_argument(
        "--theory-chunks",
        type=int,
        help="chunks of the linear theory on the true trajectory, 0 for none (default 60)",
    )
    drift.add_argument("--theory-samples", type=int, help="the theory's noise draws (default 8)")
    drift.add_argument(
        "--coherence-lags",
        type=int,
        nargs="+",
        help="latent frames apart for coherence (default 2 5 10 20 50)",
    )
    drift.add_argument(
        "--quality-window",
        type=float,
        dest="quality_window_s",
        help="seconds compared at the start and the end for quality drift (default 10)",
    )
    drift.add_argument(
        "--sweep-lambdas",
        type=float,
        nargs="+",
        help="guidance strengths to sweep, e.g. 0 0.3 1 3 10 30 100 300 (default: no sweep)",
    )
    drift.add_argument(
        "--sweep-penalties",
        nargs="+",
        choices=SWEEP_PENALTIES,
        help=f"penalties swept (default {' '.join(SWEEP_PENALTIES)})",
    )
    drift.add_argument("--sweep-minutes", type=float, help="each sweep rollout (default 1)")
    drift.add_argument(
        "--sweep-seed",
        type=int,
        help="world seed of the sweep's rollouts (default: the first of --seeds); one the "
        "report does not use keeps the choice of a strength off the worlds it is measured on",
    )
    drift.add_argument(
        "--sweep-attention",
        action=argparse.BooleanOptionalAction,
        help="keep the attention anchor in the sweep's rollouts (default on)",
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
        files = (
            "series.csv, rho.csv, twin.csv, force.csv, lyapunov.csv, theory.csv, "
            "coherence.csv, sweep.csv, sweep_series.csv, summary.json, drift.png"
        )
    else:
        from cli.connect import client_from_args
        from lab.wire_drift import run_wire_drift

        if args.clip is not None:
            raise ValueError("--clip runs only locally: leave out --server to measure a clip")
        with client_from_args(args) as client:
            summary = run_wire_drift(client, _settings(args), out)
        files = "series.csv, server_latent_eps.csv, summary.json, drift.png"
    _print_summary(args, summary, files)
    return 0


def _settings(args: argparse.Namespace) -> DriftSettings:
    """The flags given, over the defaults (or the smoke run's, with --quick)."""
    import dataclasses

    from stream.lab.drift import DriftSettings

    base = DriftSettings.quick() if args.quick else DriftSettings()
    given = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(DriftSettings)
        if getattr(args, field.name, None) is not None
    }
    for name in ("seeds", "modes", "coherence_lags", "sweep_lambdas", "sweep_penalties"):
        if name in given:
            given[name] = tuple(given[name])
    return dataclasses.replace(base, **given)


def _print_summary(args: argparse.Namespace, summary: dict[str, Any], files: str) -> None:
    from stream.lab.drift_run import format_summary

    print(json.dumps(summary, indent=2, default=float) if args.json else format_summary(summary))
    print(f"results: {args.out}/ ({files})")
