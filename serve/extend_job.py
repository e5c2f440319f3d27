"""The blocking parts of an extension job: its settings (with the clip's frame rate), its input
clip in batches, and how long it runs."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

import numpy as np

from serve.frames import frames_to_array
from serve.wire import stream_pb2 as pb
from serve.wire_session import MAX_EXTEND_FRAMES, naming, seconds_to_frames
from stream.media.video_io import VideoSource, iter_video, video_fps

PUSH_BATCH_FRAMES = 16  # frames decoded and pushed per step: bounds memory for any clip length


def video_batches(source: VideoSource, size: int, field: str) -> Iterator[np.ndarray]:
    """A video's frames, resized to size x size, as uint8 (<=16, size, size, 3) batches."""
    with naming(field):
        yield from _batched(iter_video(source, size=size), field)


def _batched(frames: Iterable[np.ndarray], field: str) -> Iterator[np.ndarray]:
    frames = iter(frames)
    count = 0
    while batch := list(itertools.islice(frames, PUSH_BATCH_FRAMES)):
        count += len(batch)
        yield np.stack(batch)
    if count == 0:
        raise ValueError("no frames in its first video stream; accepted: a clip of >= 1 frame")


def session_config(request: pb.ExtendRequest) -> pb.SessionConfig:
    """The job's session settings: the request's, with a video's own frame rate as source_fps
    when the request leaves it 0 (raw frames stay at 0, the model's rate)."""
    config = pb.SessionConfig()
    config.CopyFrom(request.config)
    if request.WhichOneof("input") == "video" and not config.source_fps:
        with naming("video"):
            config.source_fps = video_fps(request.video)
    return config


def input_batches(request: pb.ExtendRequest, size: int) -> Iterator[np.ndarray]:
    """The request's clip, whichever way it came, as batches of model-size frames."""
    kind = request.WhichOneof("input")
    if kind == "video":
        return video_batches(request.video, size, "video")
    if kind == "frames":
        frames = frames_to_array(request.frames, "frames", size)  # (N, size, size, 3)
        return iter(np.split(frames, range(PUSH_BATCH_FRAMES, len(frames), PUSH_BATCH_FRAMES)))
    raise ValueError("input: not set; accepted: video (an encoded video file) or frames")


def requested_frames(request: pb.ExtendRequest, fps: float) -> int:
    """Frames the job must generate, from num_frames or seconds."""
    kind = request.WhichOneof("length")
    if kind == "num_frames":
        if request.num_frames < 1:
            raise ValueError(
                f"num_frames={request.num_frames} is out of range; accepted: 1..{MAX_EXTEND_FRAMES}"
            )
        return request.num_frames
    if kind == "seconds":
        return seconds_to_frames(request.seconds, fps, "seconds")
    raise ValueError("length: not set; accepted: num_frames (>= 1) or seconds (> 0)")
