"""The measures erasing or blurring cannot pass: each one's defining property on tiny arrays whose
answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from stream.media.photo_worlds import PhotoWorld, PhotoWorldConfig
from stream.metrics import (
    chunk_span,
    context_distances,
    flow_endpoint_error,
    flow_magnitude,
    foreground_mse,
    jump_ratio,
    mean_motion,
    motion_ratio,
    psnr_from_mse,
    sharpness_ratio,
)


def _video(seed: int, frames: int = 5, size: int = 12) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, size, size, 3), dtype=np.uint8)


def _blur(frames: np.ndarray) -> np.ndarray:
    """3x3 box blur with edge padding: frames (T, H, W, 3) -> float, same shape."""
    padded = np.pad(frames.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = frames.shape[1:3]
    return sum(padded[:, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) / 9.0


def test_frozen_video_has_motion_ratio_zero():
    truth = _video(0)
    frozen = np.repeat(truth[:1], len(truth), axis=0)  # (T, H, W, 3): the first frame held
    assert mean_motion(frozen) == 0.0
    assert motion_ratio(frozen, truth) == 0.0


def test_true_motion_has_motion_ratio_one():
    truth = _video(1)
    assert motion_ratio(truth, truth) == 1.0


def test_perfect_prediction_has_sharpness_ratio_one():
    truth = _video(2)
    assert sharpness_ratio(truth, truth) == pytest.approx(1.0)


def test_blurred_prediction_has_sharpness_ratio_below_one():
    truth = _video(3)
    assert sharpness_ratio(_blur(truth), truth) < 0.5


def test_prediction_that_ignores_its_input_fails_context_dependence():
    # The seed alone decides the output: the same frames for every input.
    by_seed = np.stack([_video(10 + k) for k in range(2)])  # (K, T, H, W, 3)
    ignoring = np.broadcast_to(by_seed, (3, *by_seed.shape))  # (I, K, T, H, W, 3)
    inputs, seeds = context_distances(ignoring)
    assert inputs <= seeds
    assert inputs == 0.0


def test_prediction_that_follows_its_input_passes_context_dependence():
    rng = np.random.default_rng(4)
    by_input = np.stack([_video(20 + i) for i in range(3)]).astype(np.float64)  # (I, T, H, W, 3)
    seed_noise = rng.normal(0.0, 2.0, (1, 2, *by_input.shape[1:]))  # (1, K, T, H, W, 3)
    following = by_input[:, None] + seed_noise  # (I, K, T, H, W, 3)
    inputs, seeds = context_distances(following)
    assert inputs > 10 * seeds


def test_foreground_mse_ignores_the_background():
    truth = _video(5)
    mask = np.zeros(truth.shape[:3], bool)  # (T, H, W)
    mask[:, 3:7, 4:9] = True
    background_erased = truth.copy()
    background_erased[~mask] = 0
    assert foreground_mse(background_erased, truth, mask) == 0.0
    foreground_erased = truth.copy()
    foreground_erased[mask] = 0
    expected = np.mean(np.square(truth[mask].astype(np.float64)))
    assert foreground_mse(foreground_erased, truth, mask) == pytest.approx(expected)


def test_foreground_mse_refuses_an_empty_mask():
    truth = _video(6)
    with pytest.raises(ValueError, match="no pixel"):
        foreground_mse(truth, truth, np.zeros(truth.shape[:3], bool))


def test_jump_ratio_is_one_for_the_true_step_and_large_for_a_cut():
    last = np.full((8, 8, 3), 100, np.uint8)
    true_next = last + 2  # a real step of 2 grey levels
    assert jump_ratio(last, true_next, true_next) == 1.0
    cut = np.full_like(last, 160)
    assert jump_ratio(last, cut, true_next) == 30.0


def test_psnr_from_mse_is_infinite_for_a_perfect_match_and_20_db_at_a_tenth_of_the_peak():
    assert psnr_from_mse(0.0) == float("inf")
    assert psnr_from_mse(25.5**2) == pytest.approx(20.0)


def test_chunk_span_selects_the_frames_of_the_hth_chunk():
    assert list(range(16))[chunk_span(2, 8)] == list(range(8, 16))


def _photo_pan() -> np.ndarray:
    return PhotoWorld(PhotoWorldConfig(seed=0, motion="pan")).frames(0, 9)  # (9, S, S, 3)


def test_the_flow_error_of_a_perfect_prediction_is_zero():
    truth = _photo_pan()
    assert flow_endpoint_error(truth.copy(), truth) == 0.0


def test_the_flow_error_of_repeating_the_last_frame_is_the_true_flows_size():
    truth = _photo_pan()
    frozen = np.repeat(truth[:1], len(truth), axis=0)
    assert flow_magnitude(truth) > 0.5
    assert flow_endpoint_error(frozen, truth) == pytest.approx(flow_magnitude(truth), rel=1e-9)


def test_a_prediction_moving_the_wrong_way_scores_worse_than_a_frozen_one():
    truth = _photo_pan()
    backwards = truth[::-1]
    frozen = np.repeat(truth[:1], len(truth), axis=0)
    assert flow_endpoint_error(backwards, truth) > 1.5 * flow_endpoint_error(frozen, truth)
