"""Options shared by several `stream` commands, and what they turn into.

Imported to build the parser, so it imports nothing heavy (no JAX, no gRPC).
"""

from __future__ import annotations

import argparse
from typing import Any

from serve.compile_cache import DEFAULT_CACHE_DIR
from stream import ANCHOR_MODES, DEFAULT_ANCHOR

_SESSION_OPTIONS = ("anchor", "seed", "steps", "window", "guidance")


def add_client_options(parser: argparse.ArgumentParser, server_required: bool) -> None:
    parser.add_argument(
        "--server",
        required=server_required,
        metavar="HOST:PORT",
        help="a `stream serve` to talk to"
        + ("" if server_required else " (default: run the model in this process)"),
    )
    parser.add_argument(
        "--token-file", metavar="FILE", help="bearer token for a server started with --token-file"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=300.0,
        metavar="S",
        help="seconds to wait for the server to be up and warmed up, as after `stream serve &` "
        "(default: %(default)g)",
    )
    parser.add_argument(
        "--tls-ca",
        metavar="PEM",
        help="CA certificate (or the server's self-signed one) for a server started with TLS",
    )


def add_session_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--anchor",
        choices=ANCHOR_MODES,
        help=f"anchor to the first frame against drift (default {DEFAULT_ANCHOR})",
    )
    parser.add_argument("--seed", type=int, help="noise seed; same seed, same video (default 0)")
    parser.add_argument("--steps", type=int, help="sampler steps per chunk (default: the model's)")
    parser.add_argument(
        "--window", type=int, help="latent frames of rolling context (default: the model's all)"
    )
    parser.add_argument(
        "--guidance", type=float, help="strength of the guidance anchor (default: the model's)"
    )


def add_batching_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--slots",
        type=int,
        default=1,
        metavar="N",
        help="sessions one compiled call serves at once, fixed for the process (default: "
        "%(default)s; on a GPU or TPU, about the sessions expected at once)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="compiled calls in flight at once (default: one per CPU core on a CPU, 2 on an "
        "accelerator)",
    )


def check_batching_options(args: argparse.Namespace) -> None:
    if args.slots < 1:
        raise ValueError(f"--slots={args.slots} is out of range; accepted: >= 1")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers={args.workers} is out of range; accepted: >= 1")


def add_checkpoint_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        default=None,
        metavar="DIR",
        help="model checkpoint folder (default: the model shipped with the package)",
    )


def add_compilation_cache_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--compilation-cache",
        default=str(DEFAULT_CACHE_DIR),
        metavar="DIR",
        help="JAX persistent compilation cache, which makes restarts fast (default: %(default)s, "
        "or $STREAM_JAX_CACHE; '' to compile without one)",
    )


def add_mark_boundary_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mark-boundary",
        action="store_true",
        help="draw a red border on every predicted frame of OUTPUT, so that where prediction "
        "starts (and real input resumes) can be seen",
    )


def session_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The session options given on the command line; the others keep the model's defaults."""
    return {
        name: getattr(args, name) for name in _SESSION_OPTIONS if getattr(args, name) is not None
    }
