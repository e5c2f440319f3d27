"""`stream live`: play a video file into a live session as a camera would, at its real frame rate,
asking for a continuation every so often; print each chunk's latency and how far each
continuation was from the real frames that followed it (live drift); write the input and every
continuation, in the order the session saw them, at the model's frame rate.

The session is told the file's frame rate (SessionConfig.source_fps) and resamples the frames to
the model's; the written input is resampled the same way here, so it is what the model saw.
A sender thread paces frames and requests; the main thread reads the answers as they come.
"""

from __future__ import annotations

import argparse
import dataclasses
import queue
import statistics
import threading
import time
from collections.abc import Iterator

import numpy as np

from cli.connect import client_from_args
from cli.options import session_settings
from serve.client import LiveSession, ReceivedChunk
from serve.wire import stream_pb2 as pb
from serve.wire_session import seconds_to_frames
from stream.media.boundary_marker import mark_predicted
from stream.media.frame_rate import FrameRateConverter
from stream.media.video_io import iter_video, probe_video, write_mp4


@dataclasses.dataclass
class _Tally:
    latencies_ms: dict[int, float] = dataclasses.field(default_factory=dict)  # by chunk index
    waits_ms: list[float] = dataclasses.field(default_factory=list)  # request -> first frames
    drift: list[pb.PredictionError] = dataclasses.field(default_factory=list)
    frames: int = 0  # continuation frames received
    input_frames: int = 0  # written, at the model's frame rate


def run_live(args: argparse.Namespace) -> int:
    source = probe_video(args.input)
    if args.every <= 0 or args.speed <= 0 or args.tail_seconds < 0:
        raise ValueError("--every and --speed must be > 0 and --tail-seconds >= 0")
    with client_from_args(args) as client:
        info = client.info()
        per_request = args.frames or info.frames_per_chunk
        every = max(1, round(args.every * source.fps))
        tail = 0
        if args.tail_seconds:
            tail = seconds_to_frames(args.tail_seconds, info.fps, "--tail-seconds")
        print(
            f"{args.input}: {source.num_frames} frames at {source.fps:g} fps (the model sees them "
            f"at {info.fps:g}), pushed at {args.speed:g}x; asking for {per_request} frames every "
            f"{every} frames" + (f" and {tail} at the end" if tail else "")
        )
        session = client.session(source_fps=source.fps, **session_settings(args))
        frames = iter_video(args.input, size=info.image_size)  # resized here: fewer bytes sent
        channel = _SenderChannel(requested_at=queue.Queue(), sent=queue.Queue())
        sender = _Sender(
            session, frames, source.fps * args.speed, every, per_request, tail, channel
        )
        sender.start()
        tally = _Tally()
        answers = _received(session, channel, tally)
        timeline = _timeline(answers, FrameRateConverter(source.fps, info.fps), args, tally)
        write_mp4(args.output, timeline, info.fps)
        sender.join()
        if sender.error is not None:
            raise sender.error
    _print_summary(tally, args.output, info.fps)
    return 0


@dataclasses.dataclass(frozen=True)
class _SenderChannel:
    """What the sender tells the reader: when it asked for each continuation, and the frames of
    each Frames request, in the order of their answers."""

    requested_at: queue.Queue[float]
    sent: queue.Queue[np.ndarray]  # (1, S, S, 3) per request


def _timeline(
    answers: Iterator[np.ndarray | ReceivedChunk],
    frame_rate: FrameRateConverter,
    args: argparse.Namespace,
    tally: _Tally,
) -> Iterator[np.ndarray]:
    """The frames to write, (S, S, 3) each at the model's rate: the input resampled, and each
    continuation where it was asked for (marked with --mark-boundary)."""
    for answer in answers:
        if isinstance(answer, ReceivedChunk):
            yield from mark_predicted(answer.frames) if args.mark_boundary else answer.frames
        else:
            real = frame_rate(answer)  # (m, S, S, 3), m >= 0
            tally.input_frames += len(real)
            yield from real


class _Sender(threading.Thread):
    def __init__(
        self,
        session: LiveSession,
        frames: Iterator[np.ndarray],
        rate: float,
        every: int,
        per_request: int,
        tail: int,
        channel: _SenderChannel,
    ):
        super().__init__(name="live-sender", daemon=True)
        self.session, self.frames, self.rate = session, frames, rate
        self.every, self.per_request, self.tail = every, per_request, tail
        self.channel = channel
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            start = time.monotonic()
            for i, frame in enumerate(self.frames):
                time.sleep(max(0.0, start + i / self.rate - time.monotonic()))
                self.channel.sent.put(frame[None])  # before sending: its answer may come at once
                self.session.send_frames(frame[None])
                if (i + 1) % self.every == 0:
                    self._request(self.per_request)
            if self.tail:
                self._request(self.tail)
        except Exception as error:  # raised again in the main thread
            self.error = error
        finally:
            self.session.close_send()

    def _request(self, num_frames: int) -> None:
        self.channel.requested_at.put(time.monotonic())
        self.session.request_extension(num_frames)


def _received(
    session: LiveSession, channel: _SenderChannel, tally: _Tally
) -> Iterator[np.ndarray | ReceivedChunk]:
    """The answers in order, printing each chunk and each live prediction error: each Frames
    request's frames, (1, S, S, 3) as sent, once accepted, and each chunk."""
    first_of_request = True
    drift: pb.PredictionError | None = None
    for event in session.events():
        if not isinstance(event, ReceivedChunk):
            if event.HasField("prediction_error"):
                drift = event.prediction_error
            yield channel.sent.get_nowait()
            continue
        if drift is not None:  # real frames followed the previous continuation: report it
            _print_drift(drift)
            tally.drift.append(drift)
            drift = None
        wait = ""
        if first_of_request:
            tally.waits_ms.append((time.monotonic() - channel.requested_at.get_nowait()) * 1000.0)
            wait = f"  first frames {tally.waits_ms[-1]:6.0f} ms after asking"
        tally.latencies_ms[event.chunk_index] = event.latency_ms
        tally.frames += len(event.frames)
        last = event.first_frame_index + len(event.frames) - 1
        print(
            f"chunk {event.chunk_index:3d}  frames {event.first_frame_index}-{last}  latency "
            f"{event.latency_ms:6.0f} ms  anchor penalty {event.anchor_penalty:.4f}{wait}"
        )
        first_of_request = event.last_of_request
        yield event
    if drift is not None:
        _print_drift(drift)
        tally.drift.append(drift)


def _print_drift(error: pb.PredictionError) -> None:
    print(
        f"  live drift of that continuation against the real frames: ||e|| "
        f"{error.latent_norm:.3f} (rms {error.latent_rms:.3f}) over {error.latent_frames} latent "
        f"frames, PSNR {error.psnr_db:.1f} dB over {error.pixel_frames} frames"
    )


def _print_summary(tally: _Tally, output: str, fps: float) -> None:
    latencies = sorted(tally.latencies_ms.values())
    if latencies:
        print(
            f"{len(latencies)} chunks: latency median {statistics.median(latencies):.0f} ms, "
            f"max {latencies[-1]:.0f} ms; first frames after asking: median "
            f"{statistics.median(tally.waits_ms):.0f} ms"
        )
    if tally.drift:
        norms = [error.latent_norm for error in tally.drift if error.latent_frames]
        if norms:
            print(
                f"live drift ||e|| over {len(norms)} continuations: mean "
                f"{statistics.fmean(norms):.3f}"
            )
    print(
        f"wrote {output}: {tally.input_frames + tally.frames} frames at {fps:g} fps "
        f"({tally.input_frames} of input, {tally.frames} predicted)"
    )
