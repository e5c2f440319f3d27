"""A Python client of the stream.v1.VideoStream service.

    client = StreamClient("127.0.0.1:50051")
    client.info().image_size
    job = client.extend("clip.mp4", seconds=2.0, anchor="attention", seed=0)
    for chunk in job:
        chunk.frames                      # uint8 (n, H, W, 3)
    job.summary                           # ExtendSummary, once the job is done
    job.job_id                            # to resume it: client.resume(job.job_id, frames_had)
    with client.session(seed=0) as live:  # a live session, in lock step:
        live.push(frames)                 # -> FramesAccepted (with the live prediction error)
        for chunk in live.extend(16): ...
A live client that pushes while chunks stream back uses send_frames / request_extension from one
thread and events() from another instead (see `stream live`).

Errors from the server are grpc.RpcError (code() and details() say what was wrong).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import queue
import time
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from serve.auth import bearer_metadata
from serve.frames import array_to_frame, frame_to_array
from serve.settings import DEFAULT_MAX_MESSAGE_BYTES, read_pem_file
from serve.wire import stream_pb2 as pb
from serve.wire import stream_pb2_grpc

_CLOSE = object()
_OUTBOX_REQUESTS = 16  # requests queued before send_frames blocks: flow control for pushers
_MAX_RECONNECT_BACKOFF_MS = 2000


@dataclasses.dataclass(frozen=True)
class ReceivedChunk:
    frames: np.ndarray  # uint8 (n, H, W, 3)
    chunk_index: int  # model chunk the frames come from; repeated when a chunk is split
    first_frame_index: int  # index of frames[0] in the session's video
    latency_ms: float  # server time to make the chunk
    anchor_penalty: float  # mean C(z_t, z_0) over the chunk
    last_of_request: bool

    @classmethod
    def from_wire(cls, chunk: pb.Chunk) -> ReceivedChunk:
        frames = [frame_to_array(f, f"chunk.frames[{i}]") for i, f in enumerate(chunk.frames)]
        return cls(
            frames=np.stack(frames),
            chunk_index=chunk.chunk_index,
            first_frame_index=chunk.first_frame_index,
            latency_ms=chunk.latency_ms,
            anchor_penalty=chunk.anchor_penalty,
            last_of_request=chunk.last_of_request,
        )


def session_config(
    anchor: str | None = None,
    seed: int = 0,
    steps: int | None = None,
    window: int | None = None,
    guidance: float | None = None,
    output_size: tuple[int, int] | None = None,
    output_encoding: int = pb.FRAME_ENCODING_RGB24,
    source_fps: float | None = None,
) -> pb.SessionConfig:
    """A SessionConfig; None means the server's default. output_size is (height, width);
    source_fps is the rate of the frames sent (None: the model's, or a video's own)."""
    height, width = output_size or (0, 0)
    return pb.SessionConfig(
        anchor=anchor or "",
        seed=seed,
        steps=steps or 0,
        window_latent_frames=window or 0,
        guidance=guidance,
        output_width=width,
        output_height=height,
        output_encoding=output_encoding,
        source_fps=source_fps or 0.0,
    )


def frames_message(frames: np.ndarray, encoding: int = pb.FRAME_ENCODING_RGB24) -> pb.Frames:
    """uint8 (N, H, W, 3) frames as wire frames: raw RGB24, or PNG or JPEG to send fewer bytes."""
    return pb.Frames(items=[array_to_frame(frame, encoding) for frame in frames])


class ExtendJob:
    """Iterate for the chunks as they are made; `job_id` is set by the first response (empty if
    the server cannot resume jobs), `summary` once the iteration ends."""

    def __init__(self, call: Any):
        self._call = call
        self.job_id = ""
        self.summary: pb.ExtendSummary | None = None

    def __iter__(self) -> Iterator[ReceivedChunk]:
        for response in self._call:
            kind = response.WhichOneof("kind")
            if kind == "chunk":
                yield ReceivedChunk.from_wire(response.chunk)
            elif kind == "job":
                self.job_id = response.job.job_id
            else:
                self.summary = response.summary

    def cancel(self) -> None:
        self._call.cancel()


class LiveSession:
    """A live session; created by StreamClient.session. The first response (SessionReady, with
    the settings resolved) is read at creation."""

    def __init__(
        self, stub: stream_pb2_grpc.VideoStreamStub, config: pb.SessionConfig, **call_options: Any
    ):
        self._outbox: queue.Queue[Any] = queue.Queue(_OUTBOX_REQUESTS)
        self._outbox.put(pb.SessionRequest(config=config))
        self._call = stub.Session(self._requests(), **call_options)
        # A finished call stops reading requests; unblock the thread waiting for the next one.
        self._call.add_done_callback(lambda _: self._unblock())
        self.ready: pb.SessionReady = next(self._call).ready

    def send_frames(self, frames: np.ndarray, encoding: int = pb.FRAME_ENCODING_RGB24) -> None:
        """Queues real frames, uint8 (N, H, W, 3) of any size; answered by a FramesAccepted."""
        self._outbox.put(pb.SessionRequest(frames=frames_message(frames, encoding)))

    def request_extension(self, num_frames: int) -> None:
        """Queues an extension; answered by ReceivedChunks, the last with last_of_request."""
        self._outbox.put(pb.SessionRequest(extend=pb.ExtendCommand(num_frames=num_frames)))

    def events(self) -> Iterator[pb.FramesAccepted | ReceivedChunk]:
        """Answers in the order of the requests, until the call ends."""
        for response in self._call:
            if response.HasField("chunk"):
                yield ReceivedChunk.from_wire(response.chunk)
            else:
                yield response.accepted

    def push(
        self, frames: np.ndarray, encoding: int = pb.FRAME_ENCODING_RGB24
    ) -> pb.FramesAccepted:
        """Sends frames and waits for their answer (lock-step use, not mixed with events())."""
        self.send_frames(frames, encoding)
        return next(self._call).accepted

    def extend(self, num_frames: int) -> Iterator[ReceivedChunk]:
        """Asks for num_frames frames and yields their chunks (lock-step use)."""
        self.request_extension(num_frames)
        for response in self._call:
            chunk = ReceivedChunk.from_wire(response.chunk)
            yield chunk
            if chunk.last_of_request:
                return

    def close_send(self) -> None:
        """No more requests; the server ends the call after answering those already sent."""
        self._outbox.put(_CLOSE)

    def close(self) -> None:
        """Ends the session after the answers to requests already sent (read and dropped)."""
        self.close_send()
        for _ in self._call:
            pass

    def cancel(self) -> None:
        """Ends the session at once; the server frees its slot."""
        self._call.cancel()

    def __enter__(self) -> LiveSession:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.cancel()

    def _requests(self) -> Iterator[pb.SessionRequest]:
        while (request := self._outbox.get()) is not _CLOSE:
            yield request

    def _unblock(self) -> None:
        # A full outbox means the request thread is not waiting for a request: nothing to do.
        with contextlib.suppress(queue.Full):
            self._outbox.put_nowait(_CLOSE)


class StreamClient:
    """A channel to one server. tls_ca: a PEM file or its bytes, to verify a TLS server (implies
    TLS); tls=True uses TLS with the system's root certificates."""

    def __init__(
        self,
        target: str,
        token: str | None = None,
        tls_ca: str | os.PathLike[str] | bytes | None = None,
        tls: bool = False,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ):
        self.target = target
        options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            # A job resumed after its server restarted waits for the channel to reconnect; gRPC's
            # backoff would otherwise grow to two minutes between attempts.
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", _MAX_RECONNECT_BACKOFF_MS),
        ]
        if tls_ca is not None or tls:
            roots = tls_ca if isinstance(tls_ca, bytes | None) else read_pem_file(tls_ca, "tls_ca")
            credentials = grpc.ssl_channel_credentials(root_certificates=roots)
            self._channel = grpc.secure_channel(target, credentials, options)
        else:
            self._channel = grpc.insecure_channel(target, options)
        self._stub = stream_pb2_grpc.VideoStreamStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._metadata = bearer_metadata(token) if token else ()

    def health(self, service: str = "stream.v1.VideoStream", timeout: float = 10.0) -> str:
        """The health status name (SERVING, NOT_SERVING, ...) of service on the server."""
        request = health_pb2.HealthCheckRequest(service=service)
        response = self._health.Check(request, timeout=timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def wait_until_serving(self, timeout: float = 600.0) -> None:
        """Waits for the server to be up and warmed up (it compiles the model at start-up).
        Raises the last grpc.RpcError (UNAVAILABLE: nothing listens) or TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status = self.health()
                if status == "SERVING":
                    return
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() >= deadline:
                    raise
            else:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"server still {status} after {timeout:g} s")
            time.sleep(0.2)

    def info(self, timeout: float = 30.0) -> pb.ModelInfo:
        return self._stub.GetModelInfo(
            pb.GetModelInfoRequest(), timeout=timeout, metadata=self._metadata
        )

    def extend(
        self,
        source: str | os.PathLike[str] | bytes | np.ndarray,
        num_frames: int | None = None,
        seconds: float | None = None,
        **settings: Any,
    ) -> ExtendJob:
        """An extension job. source: a video file's path or bytes, or uint8 (N, H, W, 3) frames;
        exactly one of num_frames and seconds; settings as session_config takes them."""
        if (num_frames is None) == (seconds is None):
            raise ValueError("extend needs exactly one of num_frames and seconds")
        request = pb.ExtendRequest(
            num_frames=num_frames, seconds=seconds, config=session_config(**settings)
        )
        if isinstance(source, np.ndarray):
            request.frames.CopyFrom(frames_message(source))
        elif isinstance(source, bytes):
            request.video = source
        else:
            try:
                request.video = pathlib.Path(source).read_bytes()
            except OSError as error:
                raise ValueError(
                    f"{os.fspath(source)}: cannot read it ({error.strerror})"
                ) from error
        return ExtendJob(self._stub.Extend(request, metadata=self._metadata))

    def resume(self, job_id: str, from_frame: int) -> ExtendJob:
        """The rest of a job whose stream was lost: its generated frames from number from_frame
        (the count the client has) on. Any server sharing the job's store can answer."""
        request = pb.ResumeExtendRequest(job_id=job_id, from_frame=from_frame)
        return ExtendJob(self._stub.ResumeExtend(request, metadata=self._metadata))

    def wait_until_connected(self, timeout: float) -> None:
        """Waits for the channel to connect (a server to listen); raises TimeoutError."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError as error:
            raise TimeoutError(f"no server at {self.target} within {timeout:g} s") from error

    def session(self, **settings: Any) -> LiveSession:
        """A live session; settings as session_config takes them."""
        return LiveSession(self._stub, session_config(**settings), metadata=self._metadata)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> StreamClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
