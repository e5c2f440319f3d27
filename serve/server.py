"""The gRPC server around one engine: the VideoStream service with health, reflection, optional
bearer-token auth and optional TLS.

Start-up: listen with health NOT_SERVING, warm the engine up (every stage compiles in a throwaway
session, so no client pays for compilation), then report SERVING. Shutdown: report NOT_SERVING
while still listening (so probes read it rather than a refused connection), refuse new sessions
and jobs with UNAVAILABLE, give running ones the grace period, then cancel what is left, which
stops within one step of work.

Every VideoStream call passes, in order: the access log (request id, one line, counted by status),
bearer-token auth (before the request is read), then parsing that answers undecodable bytes with
INVALID_ARGUMENT.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from serve.access_log import AccessLogInterceptor
from serve.auth import BearerTokenInterceptor
from serve.concurrency import SessionSlots, run_blocking
from serve.job_store import JobStore
from serve.metrics import ServerMetrics
from serve.reflection import enable_reflection
from serve.service import VideoStreamService
from serve.settings import ServerSettings
from serve.undecodable import UndecodableRequestInterceptor
from serve.wire import stream_pb2 as pb
from serve.wire import stream_pb2_grpc
from stream import Engine

_SERVICE = pb.DESCRIPTOR.services_by_name["VideoStream"]
SERVICE_NAME = _SERVICE.full_name  # "stream.v1.VideoStream"
_PREFIX = f"/{SERVICE_NAME}/"
_REQUEST_TYPES = {method.name: getattr(pb, method.input_type.name) for method in _SERVICE.methods}
# After the grace period, cancelled calls finish the step in progress (a group of frames, a
# chunk); this bounds the wait for them, should a step hang.
_STOP_SECONDS = 30.0

# Pings find peers that vanished without closing their connection (a cable pulled, a laptop
# closed), whose sessions would otherwise hold their slots until TCP gives up, hours later.
_KEEPALIVE_OPTIONS = [("grpc.keepalive_time_ms", 60_000), ("grpc.keepalive_timeout_ms", 20_000)]
# The transport takes messages up to this many times the max message size, so that one a little
# over it reaches the service and is answered INVALID_ARGUMENT naming the limit; beyond this hard
# ceiling gRPC refuses it with RESOURCE_EXHAUSTED before it is read, which bounds the memory a
# message can take.
_TRANSPORT_CEILING = 2


def _transport_ceiling(max_message_bytes: int) -> int:
    return min(_TRANSPORT_CEILING * max_message_bytes, 2**31 - 1)  # gRPC's limits are C ints


def warm_up(engine: Engine) -> float:
    """Compiles every program a session runs; returns the seconds it took."""
    started = time.perf_counter()
    engine.warm_up()
    return time.perf_counter() - started


class StreamServer:
    """Create it inside the event loop that will run it (grpc.aio binds to that loop)."""

    def __init__(self, engine: Engine, settings: ServerSettings):
        self.engine = engine
        self.settings = settings
        self.port: int | None = None  # bound port, known once started
        self.metrics_port: int | None = None  # bound port of /metrics, when served
        self.warm_up_seconds: float | None = None
        # Sessions beyond the thread count queue for a thread call by call, first come first served.
        self._pool = ThreadPoolExecutor(settings.threads, thread_name_prefix="engine")
        slots = SessionSlots(settings.max_sessions)
        jobs = (
            None
            if settings.job_store is None
            else JobStore(settings.job_store, settings.job_ttl_seconds, settings.job_store_bytes)
        )
        self.metrics = ServerMetrics(slots, engine.batcher, jobs)
        self.service = VideoStreamService(engine, settings, self._pool, slots, self.metrics, jobs)
        self._health = health_aio.HealthServicer()
        limits = [
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.max_receive_message_length", _transport_ceiling(settings.max_message_bytes)),
            ("grpc.so_reuseport", 0),  # a second server on a taken port fails instead of sharing it
        ]
        interceptors = [
            AccessLogInterceptor(_PREFIX, self.metrics),
            *([] if settings.token is None else [BearerTokenInterceptor(settings.token)]),
            UndecodableRequestInterceptor(_PREFIX, _REQUEST_TYPES, settings.max_message_bytes),
        ]
        self._server = grpc.aio.server(
            interceptors=interceptors, options=limits + _KEEPALIVE_OPTIONS
        )
        stream_pb2_grpc.add_VideoStreamServicer_to_server(self.service, self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        enable_reflection(
            [SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name],
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
        if self.settings.metrics_port is not None:
            self.metrics_port = self.metrics.serve(self.settings.host, self.settings.metrics_port)
        if warm:
            self.warm_up_seconds = await run_blocking(self._pool, warm_up, self.engine)
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Drains, then stops; returns once every call's work has stopped (or _STOP_SECONDS after
        the grace period, whichever is first)."""
        grace = self.settings.grace_seconds if grace_seconds is None else grace_seconds
        await self._health.enter_graceful_shutdown()
        self.service.draining = True
        await self._until_idle(grace)
        await self._server.stop(0)  # cancels the calls still running
        await self._until_idle(_STOP_SECONDS)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.metrics.close()

    async def _until_idle(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.service.slots.active and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def _set_health(self, status: int) -> None:
        for service in ("", SERVICE_NAME):  # "" is the whole server, as probes ask by default
            await self._health.set(service, status)
