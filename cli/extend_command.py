"""`stream extend`: extend a clip into an mp4, in this process or on a server, with progress.

The clip is read at its own frame rate and resampled to the model's (on the server, by the job
itself), so its motion keeps its speed; with --with-input the mp4 holds the resampled clip and
the continuation at the model's one rate.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from collections.abc import Iterable, Iterator

import numpy as np
from tqdm import tqdm

from cli.connect import client_from_args
from cli.options import session_settings
from serve.compile_cache import enable_compilation_cache
from serve.extend_job import video_batches
from serve.resuming_job import ResumingJob
from serve.wire_session import seconds_to_frames
from stream.media.boundary_marker import mark_predicted
from stream.media.frame_rate import FrameRateConverter, convert_batches
from stream.media.video_io import read_video, video_fps, write_mp4


@dataclasses.dataclass(frozen=True)
class _Written:
    frames: int  # in the mp4
    fps: float  # the model's, the mp4's
    input_frames: int  # of those, the input's (0 without --with-input)
    input_fps: float  # the input's own rate, resampled to fps


def run_extend(args: argparse.Namespace) -> int:
    written = _extend_here(args) if args.server is None else _extend_on_server(args)
    print(f"wrote {args.output}: {written.frames} frames at {written.fps:g} fps", end="")
    if written.input_frames:
        print(
            f" ({written.input_frames} of INPUT, resampled from {written.input_fps:g} fps, then "
            f"{written.frames - written.input_frames} generated)",
            end="",
        )
    print()
    return 0


def _requested(args: argparse.Namespace, fps: float) -> int:
    if args.frames is not None:
        if args.frames < 1:
            raise ValueError(f"--frames={args.frames} is out of range; accepted: >= 1")
        return args.frames
    return seconds_to_frames(args.seconds, fps, "--seconds")


def _extend_here(args: argparse.Namespace) -> _Written:
    from stream import Engine  # here: --server runs without JAX

    if args.compilation_cache:
        enable_compilation_cache(args.compilation_cache)
    engine = Engine.load(args.checkpoint)
    config = engine.config
    total = _requested(args, config.fps)
    session = engine.open(**session_settings(args))
    input_fps = video_fps(args.input)
    pushed = []
    batches = video_batches(args.input, config.image_size, "INPUT")
    for batch in convert_batches(batches, input_fps, config.fps):  # (n, S, S, 3) at config.fps
        session.push(batch)
        if args.with_input:
            pushed.append(batch)
    with tqdm(total=total, desc="extending", unit=" frames") as bar:
        generated = _counted(session.stream(total), bar)
        count = _write(args.output, pushed, generated, config.fps, args.mark_boundary)
    return _Written(count, config.fps, count - total, input_fps)


def _extend_on_server(args: argparse.Namespace) -> _Written:
    with client_from_args(args) as client:
        info = client.info()
        total = _requested(args, info.fps)
        job = ResumingJob(
            client,
            client.extend(args.input, num_frames=total, **session_settings(args)),
            args.resume_seconds,
            on_resume=lambda frame: tqdm.write(f"stream lost; job resumed from frame {frame}"),
        )
        prefix, input_fps = [], 0.0
        if args.with_input:  # resampled as the server resamples the clip it was sent
            clip, input_fps = read_video(args.input, size=info.image_size)  # (N, S, S, 3)
            prefix = [FrameRateConverter(input_fps, info.fps)(clip)]  # (M, S, S, 3)
        with tqdm(total=total, desc="extending", unit=" frames") as bar:
            generated = _counted((chunk.frames for chunk in job), bar)
            count = _write(args.output, prefix, generated, info.fps, args.mark_boundary)
        summary = job.summary
        print(
            f"server: {summary.chunks} chunks, {summary.mean_chunk_latency_ms:.0f} ms per chunk on "
            f"average (max {summary.max_chunk_latency_ms:.0f}), {summary.wall_ms / 1000:.1f} s "
            "in all" + (f" (the last of {job.resumes + 1} calls, resumed)" if job.resumes else "")
        )
        return _Written(count, info.fps, count - total, input_fps)


def _counted(pieces: Iterable[np.ndarray], bar: tqdm) -> Iterator[np.ndarray]:
    for piece in pieces:
        bar.update(len(piece))
        yield piece


def _write(
    path: str,
    real: Iterable[np.ndarray],
    predicted: Iterable[np.ndarray],
    fps: float,
    mark: bool,
) -> int:
    """Writes (n, H, W, 3) batches, real then predicted (marked if mark), to an mp4 as they come;
    returns the frames written."""
    if mark:
        predicted = (mark_predicted(batch) for batch in predicted)
    count = 0

    def frames() -> Iterator[np.ndarray]:
        nonlocal count
        for batch in itertools.chain(real, predicted):
            count += len(batch)
            yield from batch

    write_mp4(path, frames(), fps)
    return count
