"""The stream.v1.VideoStream service on grpc.aio.

The event loop only moves messages: every engine call (and frame or video decoding) runs in the
thread pool, one bounded step at a time per session (a group of frames, a chunk), so many sessions
proceed at once and none blocks another's I/O. A call that ends, fails, runs out of time or is
cancelled by its client stops after the step in progress, then leaves its `with` blocks, which
frees its slot: a free slot is one whose work has stopped.

An Extend job is stored (serve/job_store.py) before it runs, and ResumeExtend runs a stored job
again from its request, sending only the frames from the one asked for.

Handlers are coroutines writing with context.write rather than async generators, so that a
cancellation unwinds them at once instead of whenever a suspended generator is collected.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from concurrent.futures import Executor
from typing import Any

import grpc
from google.protobuf.message import Message

from serve.concurrency import Prefetch, SessionSlots, run_step, until_stopped
from serve.extend_job import (
    check_input_frames,
    input_batches,
    input_bound,
    push_batch,
    requested_frames,
    session_config,
)
from serve.job_store import JobStore, UnknownJob
from serve.limits import MAX_FRAME_SIDE, MAX_GUIDANCE
from serve.metrics import ServerMetrics
from serve.settings import ServerSettings
from serve.wire import stream_pb2 as pb
from serve.wire import stream_pb2_grpc
from serve.wire_session import WireSession, model_info
from stream import Engine
from stream.media.video_io import VIDEO_FORMATS

_KINDS = "config (first), then frames and extend"
# A job's progress is written to its store every so many chunks, which keeps it from expiring.
_PROGRESS_EVERY_CHUNKS = 8


class VideoStreamService(stream_pb2_grpc.VideoStreamServicer):
    def __init__(
        self,
        engine: Engine,
        settings: ServerSettings,
        pool: Executor,
        slots: SessionSlots,
        metrics: ServerMetrics,
        jobs: JobStore | None = None,
    ):
        self._engine = engine
        self._jobs = jobs
        self._settings = settings
        self._limits = settings.limits
        self._pool = pool
        self.slots = slots
        self._metrics = metrics
        self.draining = False  # set at shutdown: new sessions and jobs are refused
        self._info = model_info(engine)
        limits = settings.limits
        self._info.MergeFrom(
            pb.ModelInfo(
                max_message_bytes=settings.max_message_bytes,
                max_sessions=settings.max_sessions,
                max_frames_per_message=limits.frames_per_message,
                max_pixels_per_message=limits.pixels_per_message,
                max_job_frames=limits.job_frames,
                max_job_pixels=limits.job_pixels,
                max_frame_side=MAX_FRAME_SIDE,
                max_generated_frames=limits.generated_frames,
                max_guidance=MAX_GUIDANCE,
                video_formats=VIDEO_FORMATS,
                idle_timeout_seconds=limits.idle_seconds,
                max_call_seconds=limits.call_seconds,
                job_ttl_seconds=0.0 if jobs is None else jobs.ttl_seconds,
            )
        )

    async def GetModelInfo(
        self, request: pb.GetModelInfoRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInfo:
        return self._info

    async def Session(
        self, requests: AsyncIterator[pb.SessionRequest], context: grpc.aio.ServicerContext
    ) -> None:
        await self._run("session", self._session(requests, context), context)

    async def Extend(self, request: pb.ExtendRequest, context: grpc.aio.ServicerContext) -> None:
        await self._run("job", self._extend(request, context), context)

    async def ResumeExtend(
        self, request: pb.ResumeExtendRequest, context: grpc.aio.ServicerContext
    ) -> None:
        await self._run("job", self._resume(request, context), context)

    async def _run(
        self, kind: str, call: Coroutine[Any, Any, None], context: grpc.aio.ServicerContext
    ) -> None:
        """Runs a session or job (kind) in a slot, within the call time limit, mapping its
        errors."""
        if self.draining:
            call.close()
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                "server is shutting down; retry on another server",
            )
        async with self.slots.hold() as slot:
            if slot is None:
                call.close()
                await self._abort_full(context)
            seconds = self._limits.call_seconds
            self._metrics.running(kind, +1)
            try:
                async with asyncio.timeout(seconds):
                    await until_stopped(call, slot.end)
            except ValueError as error:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
            except UnknownJob as error:
                await context.abort(grpc.StatusCode.NOT_FOUND, str(error))
            except TimeoutError:
                await context.abort(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"the call ran for {seconds:g} s, the server's --max-call-seconds; accepted: "
                    "shorter sessions and jobs (open a new one to go on)",
                )
            finally:
                self._metrics.running(kind, -1)

    async def _session(
        self, requests: AsyncIterator[pb.SessionRequest], context: grpc.aio.ServicerContext
    ) -> None:
        session: WireSession | None = None
        stop = threading.Event()  # set when the call is cancelled, to end a push between steps
        state = self._metrics.session_state
        while True:
            with state("waiting"):
                request = await self._next_request(requests, context)
            if request is None:
                break
            kind = request.WhichOneof("kind")
            with state("generating" if kind == "extend" else "pushing"):
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
                    accepted = await run_step(
                        self._pool, session.push_message, request.frames, "frames", stop, stop=stop
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
        if session is None:
            raise ValueError(f"config: the session ended without one; accepted: {_KINDS}")

    async def _next_request(
        self, requests: AsyncIterator[pb.SessionRequest], context: grpc.aio.ServicerContext
    ) -> pb.SessionRequest | None:
        """The next request, or None once the client has sent its last; a client silent for the
        idle timeout loses its session, so idle clients cannot hold every slot."""
        idle = self._limits.idle_seconds
        try:
            return await asyncio.wait_for(anext(requests, None), idle)
        except TimeoutError:
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"no request for {idle:g} s, the server's --idle-seconds; accepted: a request "
                "(frames or extend) at least that often",
            )

    async def _extend(self, request: pb.ExtendRequest, context: grpc.aio.ServicerContext) -> None:
        num_frames = requested_frames(request, self._engine.config.fps, self._limits)
        if self._jobs is None:
            await self._job("", request, num_frames, 0, context)
            return
        jobs, name = self._jobs, self._engine.name
        job_id = await run_step(self._pool, jobs.create, request, name, num_frames)
        try:
            with jobs.running(job_id):
                await self._job(job_id, request, num_frames, 0, context)
        except ValueError:  # the request itself is wrong: resuming it could only fail again
            await run_step(self._pool, jobs.remove, job_id)
            raise

    async def _resume(
        self, request: pb.ResumeExtendRequest, context: grpc.aio.ServicerContext
    ) -> None:
        if self._jobs is None:
            raise UnknownJob(
                "job_id: this server keeps no job store (started without --job-store); "
                "accepted: a job on a server that keeps one"
            )
        job = await run_step(self._pool, self._jobs.load, request.job_id)
        if job.model != self._engine.name:
            raise ValueError(
                f"job_id={job.job_id}: the job was made by the model {job.model!r} and this "
                f"server runs {self._engine.name!r}, which makes other frames; accepted: a job "
                "of this server's model"
            )
        if request.from_frame > job.generated_frames:
            raise ValueError(
                f"from_frame={request.from_frame} is out of range; accepted: 0 to "
                f"{job.generated_frames} (the job's generated frames)"
            )
        with self._jobs.running(job.job_id):
            await self._job(
                job.job_id, job.request, job.generated_frames, request.from_frame, context
            )

    async def _job(
        self,
        job_id: str,
        request: pb.ExtendRequest,
        num_frames: int,
        skip: int,
        context: grpc.aio.ServicerContext,
    ) -> None:
        """Runs a job, sending its generated frames from number `skip` on."""
        started = time.perf_counter()
        job = pb.ExtendJob(job_id=job_id, generated_frames=num_frames, from_frame=skip)
        await context.write(pb.ExtendResponse(job=job))
        limits, model = self._limits, self._engine.config
        job_config = await run_step(self._pool, session_config, request, limits)
        await run_step(self._pool, check_input_frames, request, job_config, model.fps, limits)
        session = await self._open(job_config)
        batches = await run_step(self._pool, input_batches, request, model.image_size, limits)
        bound = input_bound(request, limits)
        stop = threading.Event()  # set when the call is cancelled, to end a push between steps
        while (batch := await run_step(self._pool, next, batches, None)) is not None:
            await run_step(self._pool, push_batch, session, batch, bound, stop, stop=stop)
        input_frames = session.session.frames_pushed
        sent_chunks = 0

        async def record(chunk: pb.Chunk) -> None:
            nonlocal sent_chunks
            sent_chunks += 1
            if job_id and (chunk.last_of_request or sent_chunks % _PROGRESS_EVERY_CHUNKS == 0):
                sent = chunk.first_frame_index + len(chunk.frames) - input_frames
                await run_step(self._pool, self._jobs.progress, job_id, sent)

        latencies = await self._send_chunks(
            session,
            num_frames,
            "num_frames",
            lambda chunk: pb.ExtendResponse(chunk=chunk),
            context,
            skip,
            record,
        )
        summary = pb.ExtendSummary(
            input_frames=input_frames,
            generated_frames=num_frames,
            chunks=len(latencies),
            fps=self._engine.config.fps,
            wall_ms=(time.perf_counter() - started) * 1000.0,
            mean_chunk_latency_ms=sum(latencies.values()) / len(latencies),
            max_chunk_latency_ms=max(latencies.values()),
        )
        await context.write(pb.ExtendResponse(summary=summary))

    async def _open(self, config: pb.SessionConfig) -> WireSession:
        settings = self._settings
        return await run_step(
            self._pool,
            WireSession,
            self._engine,
            config,
            settings.max_message_bytes,
            settings.limits,
        )

    async def _send_chunks(
        self,
        session: WireSession,
        num_frames: int,
        field: str,
        wrap: Callable[[pb.Chunk], Message],
        context: grpc.aio.ServicerContext,
        skip: int = 0,
        sent: Callable[[pb.Chunk], Awaitable[None]] | None = None,
    ) -> dict[int, float]:
        """Generates num_frames frames and writes those from number `skip` on, calling `sent`
        after each chunk written; returns each chunk's latency by its index.

        Writing awaits the transport's flow control, so a slow reader holds generation back to
        the prefetch depth.
        """
        latencies: dict[int, float] = {}
        chunks = await run_step(self._pool, session.chunks, num_frames, field, skip)
        async with Prefetch(self._pool, chunks, self._settings.prefetch_chunks) as ahead:
            async for chunk in ahead:
                latencies[chunk.chunk_index] = chunk.latency_ms
                if not chunk.frames:  # made again only to reach `skip`
                    continue
                await context.write(wrap(chunk))
                self._metrics.chunk_sent(chunk.latency_ms, len(chunk.frames))
                if sent is not None:
                    await sent(chunk)
        return latencies

    async def _abort_full(self, context: grpc.aio.ServicerContext) -> None:
        await context.abort(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"server is full: {self.slots.limit} sessions and jobs are running (its "
            "--max-sessions); retry later or on another server",
        )
