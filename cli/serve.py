"""`stream serve`: the gRPC server (run by cli/serve_command.py)."""

from __future__ import annotations

import argparse

from cli.options import (
    add_batching_options,
    add_checkpoint_option,
    add_compilation_cache_option,
)
from serve.limits import Limits
from serve.log_format import LOG_FORMATS
from serve.settings import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_JOB_STORE,
    DEFAULT_JOB_STORE_BYTES,
    DEFAULT_JOB_TTL_SECONDS,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_SESSIONS,
    DEFAULT_PORT,
)

# flag, Limits field, metavar, help (the default is appended)
LIMIT_FLAGS = (
    ("--max-frames-per-message", "frames_per_message", "N", "frames in one Frames message"),
    (
        "--max-pixels-per-message",
        "pixels_per_message",
        "N",
        "decoded pixels (width x height summed over frames) in one Frames message",
    ),
    ("--max-job-frames", "job_frames", "N", "frames of an Extend job's video, as stored"),
    ("--max-job-pixels", "job_pixels", "N", "decoded pixels of an Extend job's video"),
    (
        "--max-generated-frames",
        "generated_frames",
        "N",
        "frames one extend request or job may ask for",
    ),
    ("--idle-seconds", "idle_seconds", "S", "a session silent this long is ended"),
    ("--max-call-seconds", "call_seconds", "S", "any session or job is ended after this long"),
)


def add_parser(commands: argparse._SubParsersAction) -> None:
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
        help="threads calling the engine (default: --max-sessions, so every session can wait "
        "for the same batched call)",
    )
    add_batching_options(serve)
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
    serve.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (default: not served; 0 "
        "picks a free port, printed at start)",
    )
    serve.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="stderr log lines (the server's messages, and one access line per call): text, "
        "as 'stream serve: request_id=... method=...', or json, one object per line with "
        "time, level, logger, message and an access line's request_id, method, code, seconds "
        "and peer as keys (default: %(default)s)",
    )
    jobs = serve.add_argument_group(
        "resumable jobs",
        "every Extend job is stored (its request and progress) so that a client that lost its "
        "stream can resume it (ResumeExtend) here after a restart, or on another server of the "
        "same model sharing the folder",
    )
    jobs.add_argument(
        "--job-store",
        default=str(DEFAULT_JOB_STORE),
        metavar="DIR",
        help="folder of the job store (default: %(default)s; empty: jobs cannot be resumed)",
    )
    jobs.add_argument(
        "--job-ttl-seconds",
        type=float,
        default=DEFAULT_JOB_TTL_SECONDS,
        metavar="S",
        help="a job with no progress for this long can no longer be resumed and is removed "
        "(default: %(default)g)",
    )
    jobs.add_argument(
        "--job-store-mib",
        type=float,
        default=DEFAULT_JOB_STORE_BYTES / 2**20,
        metavar="MIB",
        help="disk use of the job store, at most: storing a job removes the least recently "
        "active ones beyond it (default: %(default)g; at least --max-message-mib)",
    )
    limits = serve.add_argument_group(
        "limits",
        "the work one request may cause; beyond them, INVALID_ARGUMENT or "
        "DEADLINE_EXCEEDED (GetModelInfo reports them)",
    )
    defaults = Limits()
    for flag, field, metavar, text in LIMIT_FLAGS:
        default = getattr(defaults, field)
        limits.add_argument(
            flag,
            type=type(default),
            default=default,
            metavar=metavar,
            dest=f"limit_{field}",
            help=f"{text} (default: %(default)s)",
        )
    add_compilation_cache_option(serve)
    serve.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cli.serve_command import run_serve

    return run_serve(args)
