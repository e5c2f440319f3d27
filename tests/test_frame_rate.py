"""Frame-rate conversion: input frames at their own rate, as the model's rate must see them."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from stream.media.frame_rate import FrameRateConverter, check_fps, convert_batches

RATE_PAIRS = [(30.0, 16.0), (25.0, 16.0), (30000 / 1001, 16.0), (8.0, 16.0), (16.0, 16.0)]


def _indices(count: int) -> np.ndarray:
    """Stand-ins for frames: frame j is the number j, so the output says which frames it took."""
    return np.arange(count)


def test_30_to_16_fps_keeps_the_clips_duration():
    taken = FrameRateConverter(30.0, 16.0)(_indices(300))  # 10 s
    assert len(taken) == 160  # 10 s at 16 fps
    assert taken[-1] == 298  # frame 159 at 9.9375 s is nearest to source frame 298 (9.933 s)


def _nearest_in_time(count: int, source: float, target: float) -> list[int]:
    """Brute force, in exact rationals: for output frames k = 0, 1, ... the source frame nearest to
    time k / target (the earlier of a tie), for as long as it is one of the first count."""
    s, t = Fraction(source), Fraction(target)
    taken = []
    for k in itertools.count():
        distances = [abs(j / s - k / t) for j in range(count + 1)]
        nearest = distances.index(min(distances))
        if nearest == count:
            return taken
        taken.append(nearest)


@pytest.mark.parametrize("source, target", RATE_PAIRS)
def test_each_output_frame_is_the_source_frame_nearest_in_time(source, target):
    taken = FrameRateConverter(source, target)(_indices(60))
    np.testing.assert_array_equal(taken, _nearest_in_time(60, source, target))


def test_equal_rates_give_every_frame_once():
    np.testing.assert_array_equal(FrameRateConverter(16.0, 16.0)(_indices(37)), _indices(37))


def test_upsampling_repeats_each_frame():
    np.testing.assert_array_equal(
        FrameRateConverter(8.0, 16.0)(_indices(4)), [0, 0, 1, 1, 2, 2, 3, 3]
    )


@pytest.mark.parametrize("source, target", RATE_PAIRS)
def test_the_output_does_not_depend_on_how_the_input_is_split(source, target):
    frames = _indices(120)
    whole = FrameRateConverter(source, target)(frames)
    cuts = np.sort(np.random.default_rng(0).choice(np.arange(1, 120), size=30, replace=False))
    pieces = np.split(frames, cuts)  # many batches of 1 to a dozen frames
    converter = FrameRateConverter(source, target)
    np.testing.assert_array_equal(np.concatenate([converter(piece) for piece in pieces]), whole)
    batched = list(convert_batches(pieces, source, target))
    np.testing.assert_array_equal(np.concatenate(batched), whole)
    assert all(len(batch) for batch in batched)


def test_converted_frames_keep_their_shape_and_pixels():
    frames = np.random.default_rng(1).integers(0, 256, (9, 4, 6, 3), dtype=np.uint8)
    np.testing.assert_array_equal(FrameRateConverter(32.0, 16.0)(frames), frames[::2])


@pytest.mark.parametrize(
    "value", [0, -16.0, 1e-300, 0.5, float("nan"), float("inf"), 1000.5, True, "16"]
)
def test_a_frame_rate_that_is_not_a_rate_is_refused_naming_the_field(value):
    with pytest.raises(ValueError, match=r"config\.source_fps=.* accepted: a frame rate from 1"):
        check_fps(value, "config.source_fps")
