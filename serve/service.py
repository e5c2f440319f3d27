"""The stream.v1.VideoStream service on grpc.aio.

The event loop only moves messages: every engine call (and frame or video decoding) runs in the
thread pool, one call at a time per session, so many sessions proceed at once and none blocks
another's I/O. A call that ends, fails or is cancelled by its client leaves its `with` blocks,
which frees its slot and stops its generation at once (after the step in progress).

Handlers are coroutines writing with context.write rather than async generators, so that a
cancellation unwinds them at once instead of whenever a suspended generator is collected.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor

import grpc
from google.protobuf.message import Message

from serve.concurrency import Prefetch, SessionSlots, run_blocking
from serve.extend_job import input_batches, requested_frames, session_config
from serve.settings import ServerSettings
from serve.wire import stream_pb2 as pb
from serve.wire import stream_pb2_grpc
from serve.wire_session import WireSession, model_info
from stream import Engine

_KINDS = "config (first), then frames and extend"


class VideoStreamService(stream_pb2_grpc.VideoStreamServicer):
    def __init__(self, engine: Engine, settings: ServerSettings, pool: Executor):
        self._engine = engine
        self._settings = settings
        self._pool = pool
        self.slots = SessionSlots(settings.max_sessions)
        self._info = model_info(engine)
        self._info.max_message_bytes = settings.max_message_bytes
        self._info.max_sessions = settings.max_sessions

    async def GetModelInfo(
        self, request: pb.GetModelInfoRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInfo:
        return self._info

    async def Session(
        self, requests: AsyncIterator[pb.SessionRequest], context: grpc.aio.ServicerContext
    ) -> None:
        with self.slots.hold() as admitted:
            if not admitted:
                await self._abort_full(context)
            try:
                session: WireSession | None = None
                async for request in requests:
                    kind = request.WhichOneof("kind")
                    if kind == "config":
                        if session is not None:
                            raise ValueError(f"config: sent twice; accepted: {_KINDS}")
                        session = await self._open(request.config)
                        await context.write(pb.SessionResponse(ready=session.ready()))
                    elif kind is None:
                        raise ValueError(f"kind: empty SessionRequest; accepted: {_KINDS}")
                    elif session is None:
                        raise ValueError(f"{kind}: sent before the config; accepted: {_KINDS}")
                    elif kind == "frames":
                        accepted = await run_blocking(
                            self._pool, session.push_message, request.frames, "frames"
                        )
                        await context.write(pb.SessionResponse(accepted=accepted))
                    else:
                        await self._send_chunks(
                            session,
                            request.extend.num_frames,
                            "extend.num_frames",
                            lambda chunk: pb.SessionResponse(chunk=chunk),
                            context,
                        )
            except ValueError as error:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))

    async def Extend(self, request: pb.ExtendRequest, context: grpc.aio.ServicerContext) -> None:
        with self.slots.hold() as admitted:
            if not admitted:
                await self._abort_full(context)
            try:
                started = time.perf_counter()
                config = self._engine.config
                num_frames = requested_frames(request, config.fps)
                job_config = await run_blocking(self._pool, session_config, request)
                session = await self._open(job_config)
                batches = input_batches(request, config.image_size)
                while (batch := await run_blocking(self._pool, next, batches, None)) is not None:
                    await run_blocking(self._pool, session.push, batch)
                latencies = await self._send_chunks(
                    session,
                    num_frames,
                    "num_frames",
                    lambda chunk: pb.ExtendResponse(chunk=chunk),
                    context,
                )
                summary = pb.ExtendSummary(
                    input_frames=session.session.frames_pushed,
                    generated_frames=num_frames,
                    chunks=len(latencies),
                    fps=config.fps,
                    wall_ms=(time.perf_counter() - started) * 1000.0,
                    mean_chunk_latency_ms=sum(latencies.values()) / len(latencies),
                    max_chunk_latency_ms=max(latencies.values()),
                )
                await context.write(pb.ExtendResponse(summary=summary))
            except ValueError as error:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))

    async def _open(self, config: pb.SessionConfig) -> WireSession:
        return await run_blocking(
            self._pool, WireSession, self._engine, config, self._settings.max_message_bytes
        )

    async def _send_chunks(
        self,
        session: WireSession,
        num_frames: int,
        field: str,
        wrap: Callable[[pb.Chunk], Message],
        context: grpc.aio.ServicerContext,
    ) -> dict[int, float]:
        """Generates and writes num_frames frames; returns each chunk's latency by its index.

        Writing awaits the transport's flow control, so a slow reader holds generation back to
        the prefetch depth.
        """
        latencies: dict[int, float] = {}
        chunks = await run_blocking(self._pool, session.chunks, num_frames, field)
        async with Prefetch(self._pool, chunks, self._settings.prefetch_chunks) as ahead:
            async for chunk in ahead:
                latencies[chunk.chunk_index] = chunk.latency_ms
                await context.write(wrap(chunk))
        return latencies

    async def _abort_full(self, context: grpc.aio.ServicerContext) -> None:
        await context.abort(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"server is full: {self.slots.limit} sessions and jobs are running (its "
            "--max-sessions); retry later or on another server",
        )
