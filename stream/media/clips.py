"""The clips that training and evaluation read, and the split between them: world videos of seeds
at or above EVAL_WORLD_SEED are never trained on, and the real clips in HELD_OUT (found in the
shared video folders) are never trained on or used for any choice."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stream.media.video_io import read_video
from stream.media.worlds import WORLD_FAMILIES, World, make_world

# World seeds at or above this are never trained on; evaluation draws from them.
EVAL_WORLD_SEED = 1 << 30
# Real clips kept out of training and out of every choice, judged by `stream eval`. The first three
# are the shipped model's held-out clips; the other nine were picked on 2026-12-05 from the shared
# folders by their descriptions alone (docs/data/EXTRA_CLIPS.md), before anything was measured on
# them, for the variety of motion: a juggler, walkers, a city pan, a dashcam, water, a dog, a
# butterfly, fish and a crowd. Models exported before that date trained on those nine.
HELD_OUT: tuple[str, ...] = (
    "tree.avi",
    "av1_video.mkv",
    "carphone_pristine.mp4",
    "sam2_juggle.mp4",
    "intel_person_walking.mp4",
    "kivy_city_cc0.mpg",
    "openmpf_toronto_highway_dashcam.mp4",
    "mdn_stream_of_water.mp4",
    "sam2_dog.mp4",
    "flutter_butterfly.mp4",
    "mswin_aquarium_fishes.wmv",
    "openmpf_marathon_runners.mkv",
)
# File endings read as video clips from a folder.
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".webm", ".mov", ".mpg", ".gif", ".wmv")


def default_video_dir() -> Path:
    """../shared/data/video beside the repository, or $STREAM_VIDEO_DIR."""
    env = os.environ.get("STREAM_VIDEO_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data" / "video"


def default_video_dirs() -> tuple[Path, ...]:
    """Every shared folder of real clips: default_video_dir() and video-extra beside it."""
    first = default_video_dir()
    return (first, first.parent / "video-extra")


def find_clips(names: Sequence[str], folders: Sequence[Path]) -> dict[str, Path]:
    """Where each named clip is, in the first folder that has it; missing names are left out."""
    found = {}
    for name in names:
        for folder in folders:
            if (folder / name).is_file():
                found[name] = folder / name
                break
    return found


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
