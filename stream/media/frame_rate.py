"""Frame-rate conversion: frames shot at one rate, as a model trained at another must see them.

Source frame j is shown at time j / source_fps, output frame k at time k / target_fps. Output frame
k is the source frame nearest in time (a tie goes to the earlier frame), so downsampling drops
frames, upsampling repeats them, and a clip keeps its duration: N source frames give
floor((N - 1/2) * target / source) + 1 output frames, about N * target / source (the last source
frame is nearest for only the first half of its period).

Which source frame output frame k takes depends on k alone, computed in exact rationals, so the
output is the same however the source is split into batches, and the converter keeps two counters
and no frames.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Iterator
from fractions import Fraction

import numpy as np

MAX_FPS = 1000.0  # beyond any camera's rate
# Bounds the frames one source frame can turn into (16 at the model's 16 fps): found by fuzzing,
# 1e-300 fps made a single frame into more frames than a server could ever count out.
MIN_FPS = 1.0


def check_fps(value: object, field: str) -> float:
    """value as a float frame rate; ValueError naming field unless finite, in [MIN_FPS, MAX_FPS]."""
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or not MIN_FPS <= value <= MAX_FPS:
        raise ValueError(
            f"{field}={value!r} is out of range; accepted: a frame rate from {MIN_FPS:g} to "
            f"{MAX_FPS:g} frames per second"
        )
    return float(value)


class FrameRateConverter:
    """Feed it a source's frames in order, in batches of any size; it answers each batch with the
    output frames whose nearest source frame is in that batch."""

    def __init__(self, source_fps: float, target_fps: float):
        self.source_fps = check_fps(source_fps, "source_fps")
        self.target_fps = check_fps(target_fps, "target_fps")
        # Source frames per output frame, p / q exactly (the floats' own binary values).
        ratio = Fraction(self.source_fps) / Fraction(self.target_fps)
        self._p, self._q = ratio.numerator, ratio.denominator
        self.frames_in = 0  # source frames seen
        self.frames_out = 0  # output frames given

    def output_count(self, source_frames: int) -> int:
        """Output frames that the first source_frames source frames give."""
        if source_frames <= 0:
            return 0
        return (2 * source_frames - 1) * self._q // (2 * self._p) + 1

    def pending_output(self, source_frames: int) -> int:
        """Output frames the next source_frames source frames will give, before they are seen."""
        return self.output_count(self.frames_in + source_frames) - self.frames_out

    def source_index(self, k: int) -> int:
        """The source frame that output frame k shows: ceil(k * p / q - 1/2)."""
        return (2 * k * self._p + self._q - 1) // (2 * self._q)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """The next source frames (N, ...) -> the output frames they give (M, ...), M >= 0."""
        first = self.frames_in
        self.frames_in += len(frames)
        stop = self.output_count(self.frames_in)
        picks = [self.source_index(k) - first for k in range(self.frames_out, stop)]
        self.frames_out = stop
        return frames[picks]  # (M, ...)


def convert_batches(
    batches: Iterable[np.ndarray], source_fps: float, target_fps: float
) -> Iterator[np.ndarray]:
    """Batches of frames at source_fps as non-empty batches at target_fps, in order."""
    converter = FrameRateConverter(source_fps, target_fps)
    for batch in batches:
        converted = converter(batch)
        if len(converted):
            yield converted
