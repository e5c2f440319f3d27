"""The clips that training and evaluation read, and the split between them: world videos of seeds
at or above EVAL_WORLD_SEED are never trained on, and real clips come from the shared video folder
(the held-out ones named by each model's info)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stream.media.video_io import read_video
from stream.media.worlds import WORLD_FAMILIES, World, make_world

# World seeds at or above this are never trained on; evaluation draws from them.
EVAL_WORLD_SEED = 1 << 30
# File endings read as video clips from a folder.
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".webm", ".mov", ".mpg", ".gif", ".wmv")


def default_video_dir() -> Path:
    """../shared/data/video beside the repository, or $STREAM_VIDEO_DIR."""
    env = os.environ.get("STREAM_VIDEO_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data" / "video"


def video_names(folder: Path) -> list[str]:
    """The names of the folder's video files (VIDEO_SUFFIXES), sorted."""
    return sorted(p.name for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)


def eval_worlds(size: int, count: int) -> list[World]:
    """The world videos of unseen seeds that evaluation uses, cycling through the families."""
    return [
        make_world(WORLD_FAMILIES[i % len(WORLD_FAMILIES)], EVAL_WORLD_SEED + i, size)
        for i in range(count)
    ]


def world_name(index: int) -> str:
    return f"world{index}_{WORLD_FAMILIES[index % len(WORLD_FAMILIES)]}"


def world_clips(size: int, frames: int, count: int, start: int = 0) -> np.ndarray:
    """World videos of unseen seeds, cycling through the families: uint8 (count, T, S, S, 3)."""
    return np.stack([world.frames(start, frames) for world in eval_worlds(size, count)])


def video_clips(folder: Path, names: Sequence[str], size: int, frames: int) -> np.ndarray:
    """The first `frames` frames of each named clip (looped if shorter): uint8 (N, T, S, S, 3)."""
    clips = []
    for name in names:
        clip, _ = read_video(folder / name, size=size, max_frames=frames)  # (t, S, S, 3)
        clips.append(np.resize(clip, (frames, *clip.shape[1:])))
    return np.stack(clips)


def read_clips(folder: Path, names: Sequence[str], size: int, frames: int) -> dict[str, np.ndarray]:
    """Up to the first `frames` frames of each named clip, never looped: name -> uint8
    (t, S, S, 3) with t the frames the clip really has, at most `frames`."""
    return {name: read_video(folder / name, size=size, max_frames=frames)[0] for name in names}
