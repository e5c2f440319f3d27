"""`stream soak`: a server under long load or fuzzing (run by cli/soak_command.py)."""

from __future__ import annotations

import argparse

from cli.options import (
    add_batching_options,
    add_checkpoint_option,
    add_client_options,
    add_compilation_cache_option,
    check_batching_options,
)

DEFAULT_SESSIONS = 8
DEFAULT_MINUTES = 10.0


def add_parser(commands: argparse._SubParsersAction) -> None:
    soak = commands.add_parser(
        "soak",
        help="hold a server under many live sessions for minutes, or fuzz it",
        description="Runs --sessions live sessions for --minutes against a server (--server, or "
        "one started in this process on --checkpoint), each pushing frames and asking for "
        "continuations in a loop, and prints errors by status code, resident memory growth from "
        "minute 1 to the end and chunk latency p50/p99. With --fuzz COUNT, sends COUNT fuzzed "
        "calls instead (well-formed requests out of every range, resumes of unknown jobs, raw "
        "bytes to every method) and prints their status codes; UNKNOWN, INTERNAL or a server "
        "that stops answering are failures (exit status 1).",
    )
    add_client_options(soak, server_required=False)
    soak.add_argument(
        "--server-pid",
        type=int,
        metavar="PID",
        help="with --server on this machine: the server's process id, to read its resident "
        "memory (without --server, this process's own is read)",
    )
    soak.add_argument(
        "--sessions",
        type=int,
        default=DEFAULT_SESSIONS,
        metavar="N",
        help="live sessions at once (default: %(default)s)",
    )
    soak.add_argument(
        "--minutes",
        type=float,
        default=DEFAULT_MINUTES,
        metavar="M",
        help="how long the sessions run (default: %(default)g)",
    )
    soak.add_argument(
        "--fuzz", type=int, metavar="COUNT", help="send COUNT fuzzed calls instead of sessions"
    )
    add_checkpoint_option(soak)
    add_batching_options(soak)  # of the server started here, as `stream serve` takes them
    add_compilation_cache_option(soak)
    soak.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cli.soak_command import run_soak

    check_batching_options(args)
    return run_soak(args)
