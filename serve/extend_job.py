"""The blocking parts of an extension job: its settings (with the clip's frame rate), the bound on
its input frames (checked before decoding and again while decoding), its input clip in batches,
and how long it runs."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Iterable, Iterator

import numpy as np

from serve.frames import iter_frames
from serve.limits import MAX_FRAME_SIDE, Limits
from serve.wire import stream_pb2 as pb
from serve.wire_session import (
    PUSH_STEP_FRAMES,
    WireSession,
    check_generated,
    naming,
    seconds_to_frames,
)
from stream.media.frame_rate import FrameRateConverter, check_fps
from stream.media.video_io import (
    DecodeLimits,
    VideoSource,
    iter_video,
    stored_frames,
    video_fps,
)


@dataclasses.dataclass(frozen=True)
class InputBound:
    """The most frames a job's input may have, as stored and at the model's rate."""

    field: str  # the request field holding the input
    most: int
    flag: str  # the server flag that sets `most`

    def refusal(self, what: str) -> ValueError:
        return ValueError(
            f"{self.field}: {what}; accepted: at most {self.most} frames, as stored and at the "
            f"model's rate (the server's {self.flag})"
        )


def input_bound(request: pb.ExtendRequest, limits: Limits) -> InputBound:
    """A video is bounded by --max-job-frames; frames by --max-frames-per-message, as they are
    in a session's Frames message."""
    if request.WhichOneof("input") == "frames":
        return InputBound("frames.items", limits.frames_per_message, "--max-frames-per-message")
    return InputBound("video", limits.job_frames, "--max-job-frames")


def check_input_frames(
    request: pb.ExtendRequest, config: pb.SessionConfig, model_fps: float, limits: Limits
) -> None:
    """Refuses, before anything is decoded, an input of more frames than its bound, as stored or
    once converted to the model's rate (1 fps is 16 model frames per stored frame at 16 fps). A
    video's frames are counted from its packets, demuxed up to the bound, not decoded."""
    kind = request.WhichOneof("input")
    bound = input_bound(request, limits)
    if kind == "video":
        with naming("video"):
            stored = stored_frames(request.video, video_limits(limits), bound.most)
    elif kind == "frames":
        stored = len(request.frames.items)
    else:
        return  # input_batches says what is accepted
    if stored > bound.most:
        raise bound.refusal(f"more than {bound.most} frames")
    source_fps = check_fps(config.source_fps or model_fps, "config.source_fps")
    converted = FrameRateConverter(source_fps, model_fps).output_count(stored)
    if converted > bound.most:
        raise bound.refusal(
            f"{stored} frames at {source_fps:g} fps become {converted} at the model's "
            f"{model_fps:g} fps"
        )


def push_batch(
    session: WireSession, batch: np.ndarray, bound: InputBound, stop: threading.Event
) -> None:
    """Pushes a decoded batch of the input, refusing it first should it take the session past the
    bound at the model's rate (a video that decodes to more frames than its packets said)."""
    if session.frames_after(len(batch)) > bound.most:
        raise bound.refusal(f"more than {bound.most} frames at the model's rate once decoded")
    session.push(batch, stop)


def video_batches(
    source: VideoSource,
    size: int,
    field: str,
    limits: DecodeLimits | None = None,
    max_frames: int | None = None,
) -> Iterator[np.ndarray]:
    """A video's frames, resized to size x size, as uint8 (<=PUSH_STEP_FRAMES, size, size, 3)
    batches, decoded as iterated (a step of a job's push decodes one batch); a video
    of more than max_frames frames is refused once its frame max_frames + 1 is decoded."""
    read = None if max_frames is None else max_frames + 1
    with naming(field):
        frames = iter_video(source, size=size, max_frames=read, limits=limits)
        yield from _batched(frames, field, max_frames)


def _batched(
    frames: Iterable[np.ndarray], field: str, max_frames: int | None
) -> Iterator[np.ndarray]:
    frames = iter(frames)
    count = 0
    while batch := list(itertools.islice(frames, PUSH_STEP_FRAMES)):
        count += len(batch)
        if max_frames is not None and count > max_frames:
            raise ValueError(
                f"more than {max_frames} frames; accepted: at most {max_frames} (the server's "
                "--max-job-frames)"
            )
        yield np.stack(batch)
    if count == 0:
        raise ValueError("no frames in its first video stream; accepted: a clip of >= 1 frame")


def video_limits(limits: Limits) -> DecodeLimits:
    """What reading an uploaded video may cost."""
    return DecodeLimits(max_side=MAX_FRAME_SIDE, max_pixels=limits.job_pixels)


def session_config(request: pb.ExtendRequest, limits: Limits) -> pb.SessionConfig:
    """The job's session settings: the request's, with a video's own frame rate as source_fps
    when the request leaves it 0 (raw frames stay at 0, the model's rate)."""
    config = pb.SessionConfig()
    config.CopyFrom(request.config)
    if request.WhichOneof("input") == "video" and not config.source_fps:
        with naming("video"):
            config.source_fps = video_fps(request.video, video_limits(limits))
    return config


def input_batches(request: pb.ExtendRequest, size: int, limits: Limits) -> Iterator[np.ndarray]:
    """The request's clip, whichever way it came, as batches of model-size frames, decoded as
    they are iterated."""
    kind = request.WhichOneof("input")
    if kind == "video":
        return video_batches(request.video, size, "video", video_limits(limits), limits.job_frames)
    if kind == "frames":
        frames = iter_frames(
            request.frames, "frames", size, limits.frames_per_message, limits.pixels_per_message
        )
        return _batched(frames, "frames", None)
    raise ValueError("input: not set; accepted: video (an encoded video file) or frames")


def requested_frames(request: pb.ExtendRequest, fps: float, limits: Limits) -> int:
    """Frames the job must generate, from num_frames or seconds."""
    kind = request.WhichOneof("length")
    if kind == "num_frames":
        return check_generated(request.num_frames, "num_frames", limits)
    if kind == "seconds":
        longest = limits.generated_frames / fps
        if not 0 < request.seconds <= longest:  # NaN fails here too
            raise ValueError(
                f"seconds={request.seconds} is out of range; accepted: > 0 and <= {longest:g} "
                "(the server's --max-generated-frames at the model's fps)"
            )
        return seconds_to_frames(request.seconds, fps, "seconds")
    raise ValueError("length: not set; accepted: num_frames (>= 1) or seconds (> 0)")
