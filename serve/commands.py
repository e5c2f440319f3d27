"""The `stream` commands that serve the engine or talk to it: serve, extend, live, info."""

from __future__ import annotations

import argparse
import json
import pathlib

from google.protobuf import json_format

from serve.cli_options import (
    add_client_options,
    add_compilation_cache_option,
    add_session_options,
    client_from_args,
)
from serve.extend_command import run_extend
from serve.live_command import run_live
from serve.serve_command import run_serve
from serve.settings import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_SESSIONS,
    DEFAULT_PORT,
)
from serve.wire_session import model_info
from stream import Engine
from stream.cli import add_checkpoint_option, drift_settings, print_drift_summary


def _run_info(args: argparse.Namespace) -> int:
    if args.server is None:
        info = model_info(Engine.load(args.checkpoint))
    else:
        with client_from_args(args) as client:
            info = client.info()
    fields = json_format.MessageToDict(info, preserving_proto_field_name=True)
    if args.json:
        print(json.dumps(fields, indent=2))
    else:
        for name, value in fields.items():
            print(f"{name}: {', '.join(value) if isinstance(value, list) else value}")
    return 0


def _with_server_option(drift: argparse.ArgumentParser) -> None:
    """`stream drift --server HOST:PORT`: the engine's drift command, run through a server."""
    local = drift.get_default("run")
    add_client_options(drift, server_required=False)

    def run(args: argparse.Namespace) -> int:
        if args.server is None:
            return local(args)
        from serve.wire_drift import run_wire_drift

        if args.clip is not None:
            raise ValueError("--clip runs only locally: leave out --server to measure a clip")
        with client_from_args(args) as client:
            summary = run_wire_drift(client, drift_settings(args), pathlib.Path(args.out))
        print_drift_summary(
            args, summary, "series.csv, server_latent_eps.csv, summary.json, drift.png"
        )
        return 0

    drift.set_defaults(run=run)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register serve, extend, live and info, and give drift its --server; each command sets
    `run` to a function of the parsed args."""
    _with_server_option(commands.choices["drift"])
    _add_serve(commands)
    _add_extend(commands)
    _add_live(commands)
    info = commands.add_parser(
        "info",
        help="the model's resolution, frame rate, chunk size, window, anchor modes and metrics",
        description="What a model is: from a server (--server) or loaded here (--checkpoint).",
    )
    add_client_options(info, server_required=False)
    add_checkpoint_option(info)
    info.add_argument("--json", action="store_true", help="print as JSON")
    info.set_defaults(run=_run_info)


def _add_serve(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve the model over gRPC (stream.v1.VideoStream, health, reflection)",
        description="Loads the model, compiles it (warm-up), then serves live sessions and "
        "extension jobs until SIGINT or SIGTERM, when running calls get a grace period to finish. "
        "Health (grpc.health.v1.Health) says SERVING once warmed up; server reflection lets "
        "grpcurl and similar tools call it without the .proto file.",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s; 0.0.0.0 for every interface)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port (default: %(default)s; 0 picks a free one, printed at start)",
    )
    add_checkpoint_option(serve)
    serve.add_argument(
        "--max-sessions",
        type=int,
        default=DEFAULT_MAX_SESSIONS,
        metavar="N",
        help="live sessions and extension jobs at once; more are refused with "
        "RESOURCE_EXHAUSTED (default: %(default)s)",
    )
    serve.add_argument(
        "--engine-threads",
        type=int,
        metavar="N",
        help="engine calls running at once (default: one per CPU core, at most --max-sessions); "
        "more than the cores only adds contention",
    )
    serve.add_argument(
        "--max-message-mib",
        type=float,
        default=DEFAULT_MAX_MESSAGE_BYTES / 2**20,
        metavar="MIB",
        help="largest message either way, which bounds an uploaded video and a batch of frames "
        "(default: %(default)g MiB)",
    )
    serve.add_argument(
        "--token-file",
        metavar="FILE",
        help="require 'authorization: Bearer <token>' on every call but health checks, with "
        "the token in FILE; otherwise UNAUTHENTICATED",
    )
    serve.add_argument("--tls-cert", metavar="PEM", help="serve TLS with this certificate chain")
    serve.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    serve.add_argument(
        "--grace-seconds",
        type=float,
        default=DEFAULT_GRACE_SECONDS,
        metavar="S",
        help="at shutdown, how long running calls may still take (default: %(default)g)",
    )
    add_compilation_cache_option(serve)
    serve.set_defaults(run=run_serve)


def _add_extend(commands: argparse._SubParsersAction) -> None:
    extend = commands.add_parser(
        "extend",
        help="extend a video clip by some seconds or frames into an mp4",
        description="Pushes every frame of INPUT into a session, then generates the requested "
        "length and writes it to OUTPUT at the model's frame rate, in this process (the default) "
        "or on a server (--server).",
    )
    extend.add_argument("input", metavar="INPUT", help="video file (anything FFmpeg reads)")
    extend.add_argument("-o", "--output", required=True, metavar="OUTPUT.mp4", help="mp4 to write")
    length = extend.add_mutually_exclusive_group(required=True)
    length.add_argument("--seconds", type=float, help="seconds to add, at the model's frame rate")
    length.add_argument("--frames", type=int, metavar="N", help="frames to add")
    extend.add_argument(
        "--with-input",
        action="store_true",
        help="write INPUT (resized to the model's size) before the generated frames",
    )
    add_client_options(extend, server_required=False)
    add_session_options(extend)
    add_checkpoint_option(extend)
    add_compilation_cache_option(extend)
    extend.set_defaults(run=run_extend)


def _add_live(commands: argparse._SubParsersAction) -> None:
    live = commands.add_parser(
        "live",
        help="play a video into a live session on a server and record the continuations",
        description="Pushes INPUT's frames at their real frame rate, as a camera would, asks "
        "for a continuation every --every seconds and, when the input ends, a last one of "
        "--tail-seconds. Prints each chunk's latency and each continuation's live drift (its "
        "error against the real frames that followed it); writes every frame sent back to "
        "OUTPUT.",
    )
    live.add_argument("input", metavar="INPUT", help="video file (anything FFmpeg reads)")
    add_client_options(live, server_required=True)
    live.add_argument(
        "-o",
        "--output",
        default="live.mp4",
        metavar="OUTPUT.mp4",
        help="mp4 of the frames sent back (default: %(default)s)",
    )
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
    live.set_defaults(run=run_live)
