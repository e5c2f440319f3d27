"""`stream extend`: extend a clip into an mp4, in this process or on a server, with progress."""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Iterable, Iterator

import numpy as np
from tqdm import tqdm

from serve.cli_options import client_from_args, session_settings
from serve.compile_cache import enable_compilation_cache
from serve.extend_job import video_batches
from serve.wire_session import seconds_to_frames
from stream import Engine
from stream.video_io import read_video, write_mp4


def run_extend(args: argparse.Namespace) -> int:
    if args.server is None:
        written, fps = _extend_here(args)
    else:
        written, fps = _extend_on_server(args)
    print(f"wrote {args.output}: {written} frames at {fps:g} fps")
    return 0


def _requested(args: argparse.Namespace, fps: float) -> int:
    if args.frames is not None:
        if args.frames < 1:
            raise ValueError(f"--frames={args.frames} is out of range; accepted: >= 1")
        return args.frames
    return seconds_to_frames(args.seconds, fps, "--seconds")


def _extend_here(args: argparse.Namespace) -> tuple[int, float]:
    if args.compilation_cache:
        enable_compilation_cache(args.compilation_cache)
    engine = Engine.load(args.checkpoint)
    config = engine.config
    total = _requested(args, config.fps)
    session = engine.open(**session_settings(args))
    pushed = []
    for batch in video_batches(args.input, config.image_size, "INPUT"):
        session.push(batch)
        if args.with_input:
            pushed.append(batch)
    with tqdm(total=total, desc="extending", unit=" frames") as bar:
        generated = _counted(session.stream(total), bar)
        return _write(args.output, itertools.chain(pushed, generated), config.fps), config.fps


def _extend_on_server(args: argparse.Namespace) -> tuple[int, float]:
    with client_from_args(args) as client:
        info = client.info()
        total = _requested(args, info.fps)
        job = client.extend(args.input, num_frames=total, **session_settings(args))
        prefix = [read_video(args.input, size=info.image_size)[0]] if args.with_input else []
        with tqdm(total=total, desc="extending", unit=" frames") as bar:
            generated = _counted((chunk.frames for chunk in job), bar)
            written = _write(args.output, itertools.chain(prefix, generated), info.fps)
        summary = job.summary
        print(
            f"server: {summary.chunks} chunks, {summary.mean_chunk_latency_ms:.0f} ms per chunk on "
            f"average (max {summary.max_chunk_latency_ms:.0f}), {summary.wall_ms / 1000:.1f} s "
            "in all"
        )
        return written, info.fps


def _counted(pieces: Iterable[np.ndarray], bar: tqdm) -> Iterator[np.ndarray]:
    for piece in pieces:
        bar.update(len(piece))
        yield piece


def _write(path: str, batches: Iterable[np.ndarray], fps: float) -> int:
    """Writes (n, H, W, 3) batches to an mp4 as they come; returns the frames written."""
    count = 0

    def frames() -> Iterator[np.ndarray]:
        nonlocal count
        for batch in batches:
            count += len(batch)
            yield from batch

    write_mp4(path, frames(), fps)
    return count
