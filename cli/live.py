"""`stream live`: a file played into a server's live session as a camera would (run by
cli/live_command.py)."""

from __future__ import annotations

import argparse

from cli.options import add_client_options, add_mark_boundary_option, add_session_options


def add_parser(commands: argparse._SubParsersAction) -> None:
    live = commands.add_parser(
        "live",
        help="play a video into a live session on a server and record the continuations",
        description="Pushes INPUT's frames at their real frame rate, as a camera would, telling "
        "the session that rate so that it resamples them to the model's; asks for a continuation "
        "every --every seconds and, when the input ends, a last one of --tail-seconds. Prints "
        "each chunk's latency and each continuation's live drift (its error against the real "
        "frames that followed it). Writes OUTPUT at the model's frame rate: the input as the "
        "model saw it, each continuation where it was asked for, then the input again from "
        "where the continuation started.",
    )
    live.add_argument(
        "input",
        metavar="INPUT",
        help="video file: MP4, MOV, 3GP, MKV, WebM, AVI, MPEG-PS/TS, Ogg, Y4M, WMV, GIF, FLV, ...",
    )
    add_client_options(live, server_required=True)
    live.add_argument(
        "-o",
        "--output",
        default="live.mp4",
        metavar="OUTPUT.mp4",
        help="mp4 of the input and the continuations (default: %(default)s)",
    )
    add_mark_boundary_option(live)
    live.add_argument(
        "--every",
        type=float,
        default=1.0,
        metavar="S",
        help="ask for a continuation every S seconds of input (default: %(default)g)",
    )
    live.add_argument(
        "--frames", type=int, metavar="N", help="frames per continuation (default: one chunk)"
    )
    live.add_argument(
        "--tail-seconds",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds to ask for when the input ends; 0 for none (default: %(default)g)",
    )
    live.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="playback speed; 2 pushes twice as fast as real time (default: %(default)g)",
    )
    add_session_options(live)
    live.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cli.live_command import run_live

    return run_live(args)
