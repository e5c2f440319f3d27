"""`stream extend`: a clip's continuation into an mp4 (run by cli/extend_command.py)."""

from __future__ import annotations

import argparse

from cli.options import (
    add_checkpoint_option,
    add_client_options,
    add_compilation_cache_option,
    add_mark_boundary_option,
    add_session_options,
)

DEFAULT_RESUME_SECONDS = 120.0  # a restarted server is back within tens of seconds


def add_parser(commands: argparse._SubParsersAction) -> None:
    extend = commands.add_parser(
        "extend",
        help="extend a video clip by some seconds or frames into an mp4",
        description="Pushes every frame of INPUT into a session, resampled from INPUT's frame "
        "rate to the model's (a 30 fps clip is seen at 16 fps, its motion at its real speed), "
        "then generates the requested length and writes it to OUTPUT at the model's frame rate, "
        "in this process (the default) or on a server (--server).",
    )
    extend.add_argument(
        "input",
        metavar="INPUT",
        help="video file: MP4, MOV, 3GP, MKV, WebM, AVI, MPEG-PS/TS, Ogg, Y4M, WMV, GIF, FLV, ...",
    )
    extend.add_argument("-o", "--output", required=True, metavar="OUTPUT.mp4", help="mp4 to write")
    length = extend.add_mutually_exclusive_group(required=True)
    length.add_argument("--seconds", type=float, help="seconds to add, at the model's frame rate")
    length.add_argument("--frames", type=int, metavar="N", help="frames to add")
    extend.add_argument(
        "--with-input",
        action="store_true",
        help="write INPUT before the generated frames, as the model saw it: resized to its size "
        "and resampled to its frame rate, so the whole mp4 plays at one speed",
    )
    add_mark_boundary_option(extend)
    add_client_options(extend, server_required=False)
    extend.add_argument(
        "--resume-seconds",
        type=float,
        default=DEFAULT_RESUME_SECONDS,
        metavar="S",
        help="with --server: when the stream is lost (the server restarts or shuts down), resume "
        "the job from the frames received, trying for up to S seconds (default: %(default)g; "
        "0: do not resume)",
    )
    add_session_options(extend)
    add_checkpoint_option(extend)
    add_compilation_cache_option(extend)
    extend.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cli.extend_command import run_extend

    return run_extend(args)
