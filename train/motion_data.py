"""The motion predictor's clips: photo worlds (exact flow) mixed with real video (pictures only).

As for the other models, every clip is a pure function of (seed, step, lane), so a resumed run
sees the batches an uninterrupted one would.
"""

from __future__ import annotations

import numpy as np

from stream.media.clips import EVAL_WORLD_SEED
from stream.media.photo_worlds import PHOTO_MOTIONS, PhotoWorld, PhotoWorldConfig
from stream.media.pixels import to_unit
from train.data import ClipSampler

# How often each photo-world motion is drawn: mostly mixtures, some pure motions, a few still
# worlds so that standing still is learnt as a motion like any other.
_MOTION_WEIGHTS = {"still": 0.05, "pan": 0.15, "zoom": 0.1, "rotate": 0.1, "objects": 0.2}
_MOTION_WEIGHTS["mixed"] = 1.0 - sum(_MOTION_WEIGHTS.values())


class MotionSampler:
    """Draws (frames (count, S, S, 3) uint8, backward flows (count - 2, S, S, 2), flow known)."""

    def __init__(self, size: int, real_ratio: float, clips: list[np.ndarray]):
        self.size = size
        self.real = ClipSampler(size, 1.0, clips) if clips else None
        self.real_ratio = real_ratio if clips else 0.0

    def sample(self, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray, bool]:
        if self.real is not None and rng.random() < self.real_ratio:
            frames = self.real.sample(rng, count)
            return frames, np.zeros((count - 2, self.size, self.size, 2), np.float32), False
        motion = str(rng.choice(list(_MOTION_WEIGHTS), p=list(_MOTION_WEIGHTS.values())))
        world = photo_world(motion, int(rng.integers(0, EVAL_WORLD_SEED)), self.size, rng)
        start = int(rng.integers(0, 5_000))
        frames = world.frames(start, count)
        # Frame j (j >= 2) is predicted by warping frame j - 1: its backward flow.
        flows = [world.flow_between(start + j, start + j - 1) for j in range(2, count)]
        return frames, np.stack(flows), True


def photo_world(
    motion: str, seed: int, size: int, rng: np.random.Generator | None = None
) -> PhotoWorld:
    """A photo world of this motion and seed at a speed drawn from rng (1 without one)."""
    speed = float(rng.uniform(0.3, 2.0)) if rng is not None else 1.0
    return PhotoWorld(PhotoWorldConfig(seed=seed, size=size, motion=motion, speed=speed))


def eval_photo_worlds(size: int, count: int) -> list[PhotoWorld]:
    """Photo worlds of unseen seeds, one per moving motion in turn, at speed 1."""
    moving = [m for m in PHOTO_MOTIONS if m != "still"]
    return [photo_world(moving[i % len(moving)], EVAL_WORLD_SEED + i, size) for i in range(count)]


def motion_batch(
    sampler: MotionSampler, seed: int, index: int, batch: int, count: int
) -> dict[str, np.ndarray]:
    """Batch `index`: frames float32 (B, count, S, S, 3) in [-1, 1], flows (B, count - 2, S, S,
    2), known float32 (B,) (1 where the flow is exact)."""
    lanes = [
        sampler.sample(np.random.default_rng([seed, index, lane]), count) for lane in range(batch)
    ]
    return {
        "frames": to_unit(np.stack([frames for frames, _, _ in lanes])),
        "flows": np.stack([flows for _, flows, _ in lanes]),
        "known": np.array([known for _, _, known in lanes], np.float32),
    }
