"""`stream serve`: run the gRPC server until SIGINT or SIGTERM, then drain gracefully."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import pathlib
import signal

from cli.options import check_batching_options
from serve.compile_cache import enable_compilation_cache
from serve.limits import Limits
from serve.log_format import configure_logging
from serve.server import StreamServer
from serve.settings import ServerSettings, read_pem_file, read_token_file
from stream import Engine

# The server's lifecycle lines, so named under `serve` rather than after this module:
# configure_logging (serve/log_format.py) prints the `serve.*` loggers at INFO, and a JSON
# line's `logger` field reads "serve.serve_command" (tests/test_serve_observability.py).
logger = logging.getLogger("serve.serve_command")


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together; got only one")
    return ServerSettings(
        host=args.host,
        port=args.port,
        max_sessions=args.max_sessions,
        max_message_bytes=int(args.max_message_mib * 1024 * 1024),
        token=None if args.token_file is None else read_token_file(args.token_file),
        tls_cert=None if args.tls_cert is None else read_pem_file(args.tls_cert, "--tls-cert"),
        tls_key=None if args.tls_key is None else read_pem_file(args.tls_key, "--tls-key"),
        grace_seconds=args.grace_seconds,
        engine_threads=args.engine_threads,
        limits=Limits(
            **{
                field.name: getattr(args, f"limit_{field.name}")
                for field in dataclasses.fields(Limits)
            }
        ),
        metrics_port=args.metrics_port,
        job_store=pathlib.Path(args.job_store) if args.job_store else None,
        job_ttl_seconds=args.job_ttl_seconds,
        job_store_bytes=int(args.job_store_mib * 2**20),
    )


def run_serve(args: argparse.Namespace) -> int:
    configure_logging(args.log_format)
    try:
        settings = settings_from_args(args)
        check_batching_options(args)
        if args.compilation_cache:
            enable_compilation_cache(args.compilation_cache)
        engine = Engine.load(args.checkpoint, slots=args.slots, workers=args.workers)
        asyncio.run(_serve_until_signalled(engine, settings))
    except ValueError as error:  # logged here, not printed by the CLI: a JSON log stays JSON
        logger.error("%s", error)
        return 2
    return 0


async def _serve_until_signalled(engine: Engine, settings: ServerSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = StreamServer(engine, settings)
    logger.info(f"model {engine.name!r}: starting on {settings.address}, warming up (compiling)...")
    await server.start()
    security = ", ".join(
        [
            "TLS" if settings.tls_cert else "plaintext",
            "bearer token required" if settings.token else "no auth",
        ]
    )
    logger.info(
        f"SERVING on {settings.host}:{server.port} ({security}; up to {settings.max_sessions} "
        f"sessions, {engine.batcher.slots} per compiled call, {engine.batcher.workers} calls in "
        "flight; warm-up took "
        f"{server.warm_up_seconds:.1f} s)"
    )
    if server.metrics_port is not None:
        logger.info(f"metrics on http://{settings.host}:{server.metrics_port}/metrics")
    if settings.job_store is not None:
        logger.info(f"resumable jobs in {settings.job_store}")
    await stop.wait()
    logger.info(
        f"shutting down: NOT_SERVING, new sessions refused; running calls get "
        f"{settings.grace_seconds:g} s to finish, then are cancelled"
    )
    await server.stop()
    logger.info("stopped")
