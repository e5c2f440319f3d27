"""An extension job's chunks that survive a lost stream: when the server goes away (killed,
restarted, shutting down: UNAVAILABLE), the job is resumed on the same address from the frames
received so far, for as long as `patience_seconds` passes without a frame.

    job = ResumingJob(client, client.extend("clip.mp4", num_frames=600), patience_seconds=60)
    for chunk in job: ...

The frames come out as one uninterrupted job's, bit for bit (the server runs a stored job again
and skips what the client has: serve/job_store.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import grpc

from serve.client import ExtendJob, ReceivedChunk, StreamClient
from serve.wire import stream_pb2 as pb

_RETRY_SECONDS = 0.5  # between attempts while the server says UNAVAILABLE (draining, starting)


class ResumingJob:
    def __init__(
        self,
        client: StreamClient,
        job: ExtendJob,
        patience_seconds: float,
        on_resume: Callable[[int], None] | None = None,
    ):
        if patience_seconds < 0:
            raise ValueError(f"patience_seconds={patience_seconds} is out of range; accepted: >= 0")
        self._client = client
        self._job = job
        self._patience = patience_seconds
        self._on_resume = on_resume  # told the frame number each resume starts from
        self.resumes = 0
        self.job_id = ""  # the job's id, once its first response came
        self.summary: pb.ExtendSummary | None = None

    def __iter__(self) -> Iterator[ReceivedChunk]:
        received = 0
        job = self._job
        deadline: float | None = None  # while resuming: when to give up
        while True:
            try:
                for chunk in job:
                    self.job_id = job.job_id
                    deadline = None
                    received += len(chunk.frames)
                    yield chunk
                self.summary = job.summary
                return
            except grpc.RpcError as error:
                self.job_id = job.job_id or self.job_id
                if error.code() != grpc.StatusCode.UNAVAILABLE or not self.job_id:
                    raise
                if deadline is None:
                    deadline = time.monotonic() + self._patience
                else:  # a server answered UNAVAILABLE at once (draining, or not serving yet)
                    time.sleep(_RETRY_SECONDS)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                try:
                    self._client.wait_until_connected(left)
                except TimeoutError:
                    raise error from None
                job = self._client.resume(self.job_id, received)
                self.resumes += 1
                if self._on_resume is not None:
                    self._on_resume(received)
