"""Options shared by several `stream` commands, and what they turn into."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import grpc

from serve.client import StreamClient
from serve.compile_cache import DEFAULT_CACHE_DIR
from serve.settings import read_token_file
from stream.anchor import ANCHOR_MODES, DEFAULT_ANCHOR

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


def add_compilation_cache_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--compilation-cache",
        default=str(DEFAULT_CACHE_DIR),
        metavar="DIR",
        help="JAX persistent compilation cache, which makes restarts fast (default: %(default)s, "
        "or $STREAM_JAX_CACHE; '' to compile without one)",
    )


def session_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The session options given on the command line; the others keep the model's defaults."""
    return {
        name: getattr(args, name) for name in _SESSION_OPTIONS if getattr(args, name) is not None
    }


def client_from_args(args: argparse.Namespace) -> StreamClient:
    """A client of --server, once that server answers SERVING."""
    token = None if args.token_file is None else read_token_file(args.token_file)
    client = StreamClient(args.server, token=token, tls_ca=args.tls_ca)
    try:
        _wait_until_serving(client, args.server, args.wait)
    except BaseException:
        client.close()
        raise
    return client


def _wait_until_serving(client: StreamClient, server: str, wait_seconds: float) -> None:
    try:
        client.wait_until_serving(timeout=0)
    except (grpc.RpcError, TimeoutError):
        if wait_seconds <= 0:
            raise
        print(
            f"waiting up to {wait_seconds:g} s for {server} to be up and warmed up...",
            file=sys.stderr,
            flush=True,
        )
        client.wait_until_serving(wait_seconds)
