"""The gRPC server around one engine: the VideoStream service with health, reflection, optional
bearer-token auth and optional TLS.

Start-up: listen with health NOT_SERVING, warm the engine up (every stage compiles in a throwaway
session, so no client pays for compilation), then report SERVING. Shutdown: report NOT_SERVING,
refuse new calls, give running ones the grace period, then cancel what is left.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from serve.auth import BearerTokenInterceptor
from serve.concurrency import run_blocking
from serve.service import VideoStreamService
from serve.settings import ServerSettings
from serve.wire import stream_pb2 as pb
from serve.wire import stream_pb2_grpc
from stream import Engine

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["VideoStream"].full_name  # "stream.v1.VideoStream"

# Pings find peers that vanished without closing their connection (a cable pulled, a laptop
# closed), whose sessions would otherwise hold their slots until TCP gives up, hours later.
_KEEPALIVE_OPTIONS = [("grpc.keepalive_time_ms", 60_000), ("grpc.keepalive_timeout_ms", 20_000)]


def warm_up(engine: Engine) -> float:
    """Runs every compiled stage once in a throwaway session; returns the seconds it took."""
    started = time.perf_counter()
    config = engine.config
    size = config.image_size
    session = engine.open()
    # Frame 0 is encoded alone and later frames in groups: both encoder shapes compile.
    session.push(np.zeros((1 + config.frames_per_chunk, size, size, 3), np.uint8))
    session.extend(config.frames_per_chunk)
    return time.perf_counter() - started


class StreamServer:
    """Create it inside the event loop that will run it (grpc.aio binds to that loop)."""

    def __init__(self, engine: Engine, settings: ServerSettings):
        self.engine = engine
        self.settings = settings
        self.port: int | None = None  # bound port, known once started
        self.warm_up_seconds: float | None = None
        # Sessions beyond the thread count queue for a thread call by call, first come first served.
        self._pool = ThreadPoolExecutor(settings.threads, thread_name_prefix="engine")
        self.service = VideoStreamService(engine, settings, self._pool)
        self._health = health_aio.HealthServicer()
        limits = [
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 0),  # a second server on a taken port fails instead of sharing it
        ]
        interceptors = [] if settings.token is None else [BearerTokenInterceptor(settings.token)]
        self._server = grpc.aio.server(
            interceptors=interceptors, options=limits + _KEEPALIVE_OPTIONS
        )
        stream_pb2_grpc.add_VideoStreamServicer_to_server(self.service, self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            [
                SERVICE_NAME,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            self._server,
        )

    async def start(self, warm: bool = True) -> None:
        """Listens, warms up (unless warm is False), then reports SERVING."""
        address = self.settings.address
        try:
            if self.settings.tls_cert is None:
                self.port = self._server.add_insecure_port(address)
            else:
                credentials = grpc.ssl_server_credentials(
                    [(self.settings.tls_key, self.settings.tls_cert)]
                )
                self.port = self._server.add_secure_port(address, credentials)
        except RuntimeError as error:
            raise ValueError(
                f"cannot listen on {address} ({error}); accepted: a free port on an address of "
                "this machine"
            ) from error
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self._server.start()
        if warm:
            self.warm_up_seconds = await run_blocking(self._pool, warm_up, self.engine)
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace_seconds: float | None = None) -> None:
        await self._health.enter_graceful_shutdown()
        grace = self.settings.grace_seconds if grace_seconds is None else grace_seconds
        await self._server.stop(grace)
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _set_health(self, status: int) -> None:
        for service in ("", SERVICE_NAME):  # "" is the whole server, as probes ask by default
            await self._health.set(service, status)
