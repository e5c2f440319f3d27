"""Training clips: synthetic worlds (infinite, exact) mixed with real video, prepared off-thread.

Every clip is a pure function of (seed, step, lane), so a resumed run sees exactly the batches an
uninterrupted one would, and the data position saved with a checkpoint is just the step.
Real clips are decoded once (at a working size a little above the model's) and kept in memory;
each sample is a random crop in time and space, resized to the model's resolution.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from stream.media.clips import EVAL_WORLD_SEED, HELD_OUT, video_names
from stream.media.pixels import to_unit
from stream.media.video_io import probe_video, read_video, resize_center_crop
from stream.media.worlds import WORLD_FAMILIES, make_world

# Real frames are stored with this short side (times the model size / 64) and cropped from it.
_WORKING_SCALE = 1.25


def video_files(folder: Path, held_out: bool) -> list[Path]:
    """Clips of the folder, sorted: the held-out ones, or all the others."""
    return [folder / n for n in video_names(folder) if (n in HELD_OUT) == held_out]


def load_clips(files: list[Path], size: int) -> list[np.ndarray]:
    """Decode every file once to uint8 (T, h, w, 3) with short side ~1.25 * size."""
    clips = []
    short = int(round(size * _WORKING_SCALE))
    for path in files:
        info = probe_video(path)
        scale = short / min(info.width, info.height)
        shape = (max(short, round(info.height * scale)), max(short, round(info.width * scale)))
        frames, _ = read_video(path, size=shape)  # (T, h, w, 3)
        if len(frames):
            clips.append(frames)
    return clips


def _ping_pong(frames: np.ndarray, count: int) -> np.ndarray:
    """Extend a short clip forwards-then-backwards until it has `count` frames."""
    if len(frames) >= count:
        return frames
    cycle = np.concatenate([frames, frames[-2:0:-1]]) if len(frames) > 1 else frames
    reps = -(-count // len(cycle))
    return np.concatenate([cycle] * reps)[:count]  # (count, h, w, 3)


class ClipSampler:
    """Draws (count, size, size, 3) uint8 clips from worlds and real video."""

    def __init__(self, size: int, real_ratio: float, clips: list[np.ndarray]):
        self.size = size
        self.real_ratio = real_ratio if clips else 0.0
        self.clips = clips

    def sample(self, rng: np.random.Generator, count: int) -> np.ndarray:
        if rng.random() < self.real_ratio:
            return self._real(rng, count)
        return self._world(rng, count)

    def _world(self, rng: np.random.Generator, count: int) -> np.ndarray:
        world = make_world(
            str(rng.choice(WORLD_FAMILIES)),
            seed=int(rng.integers(0, EVAL_WORLD_SEED)),
            size=self.size,
            num_sprites=int(rng.integers(1, 6)),
            speed=float(rng.uniform(0.5, 2.0)),
        )
        return world.frames(int(rng.integers(0, 100_000)), count)  # (count, S, S, 3)

    def _real(self, rng: np.random.Generator, count: int) -> np.ndarray:
        frames = self.clips[int(rng.integers(len(self.clips)))]
        stride = int(rng.integers(1, 3)) if len(frames) >= 2 * count else 1
        span = _ping_pong(frames, (count - 1) * stride + 1)
        start = int(rng.integers(0, len(span) - (count - 1) * stride))
        span = span[start : start + (count - 1) * stride + 1 : stride]  # (count, h, w, 3)
        if rng.random() < 0.5:
            span = span[::-1]  # time reversal: motion statistics, not physics
        h, w = span.shape[1:3]
        side = int(rng.integers(int(0.75 * min(h, w)), min(h, w) + 1))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = span[:, y : y + side, x : x + side]  # (count, side, side, 3)
        if rng.random() < 0.5:
            crop = crop[:, :, ::-1]
        crop = np.ascontiguousarray(crop)
        return np.stack([resize_center_crop(f, self.size, self.size) for f in crop])


def clip_batch(sampler: ClipSampler, seed: int, index: int, batch: int, count: int) -> np.ndarray:
    """Batch `index` of the data stream: float32 (B, count, S, S, 3) in [-1, 1]."""
    clips = [
        sampler.sample(np.random.default_rng([seed, index, lane]), count) for lane in range(batch)
    ]
    return to_unit(np.stack(clips))


class Prefetcher:
    """Prepares batches `index .. index + depth` in background threads ahead of `get(index)`.

    Each batch is a pure function of its index, so the order threads finish in does not matter,
    and the first `get` may start anywhere (a resumed run starts at its step).
    """

    def __init__(self, make: Callable[[int], Any], threads: int, depth: int):
        self._make = make
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="data")
        self._pending: dict[int, concurrent.futures.Future] = {}
        self._depth = depth

    def get(self, index: int) -> Any:
        for ahead in range(index, index + self._depth + 1):
            if ahead not in self._pending:
                self._pending[ahead] = self._pool.submit(self._make, ahead)
        return self._pending.pop(index).result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
