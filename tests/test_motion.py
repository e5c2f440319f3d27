"""Motion continuation: predicted frames moved on along the motion the real frames showed, as far
as a backtest on the session's own frames says that motion continued."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from conftest import pushed_timeline
from stream.media.pixels import to_unit
from stream.runtime import backtest, motion
from stream.runtime.chunk import session_settings

SIZE = 32


def _pan(frames: int, speed: float) -> np.ndarray:
    """A smooth texture panning right by `speed` pixels per frame, uint8 (frames, S, S, 3)."""
    t = np.arange(frames)[:, None, None, None]
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    x = x[None, ..., None] - speed * t
    y = y[None, ..., None]
    phase = np.arange(3) * 1.7
    base = 128 + 60 * np.sin(x / 4.3 + phase) + 50 * np.cos(y / 3.7 + 0.4 * x / 4.3 + phase)
    return base.clip(0, 255).astype(np.uint8)


def _continued(state: motion.Motion, count: int, explained: float = 0.0) -> np.ndarray:
    """The last real frame moved on to 1 .. count frames ahead, (count, S, S, 3)."""
    last = jnp.broadcast_to(state.history[1], (count,) + state.history.shape[1:])
    return np.asarray(motion.moved_on(state, last, jnp.int32(1), explained))


def _observed(frames: np.ndarray) -> motion.Motion:
    """The motion state after pushes of frames (1 + 4k, S, S, 3): frame 0, then groups of 4."""
    state = motion.new_motion(SIZE)
    for last in range(0, len(frames), motion.PUSH_FRAMES):
        state = motion.observe(state, to_unit(frames[last]))
    return state


def test_measured_flow_recovers_a_translation():
    frame = to_unit(_pan(1, 0.0)[0])
    moved = motion.warp(frame, jnp.broadcast_to(jnp.array([1.5, -2.0]), (SIZE, SIZE, 2)))
    flow = np.asarray(motion.measure_flow(frame, moved))[8:-8, 8:-8]  # away from the edges
    np.testing.assert_allclose(np.median(flow.reshape(-1, 2), axis=0), [1.5, -2.0], atol=0.1)


def test_the_flow_of_a_frame_smaller_than_its_smoothing_window_is_measured():
    # At 16x16 the coarse level's window reaches past the frame more than once each way.
    y, x = np.mgrid[0:16, 0:16]
    frame = np.stack([np.sin(x / 2.1 + c) + np.cos(y / 1.7 + x / 7 + c) for c in (0, 1.7, 3.4)], -1)
    frame = jnp.asarray(frame.astype(np.float32) / 2)  # (16, 16, 3)
    moved = motion.warp(frame, jnp.broadcast_to(jnp.array([1.0, -0.5]), (16, 16, 2)))
    flow = np.asarray(motion.measure_flow(frame, moved))[4:-4, 4:-4]
    np.testing.assert_allclose(np.median(flow.reshape(-1, 2), axis=0), [1.0, -0.5], atol=0.1)


def test_a_zero_flow_returns_the_image_itself():
    frame = to_unit(_pan(1, 0.0)[0])
    np.testing.assert_array_equal(motion.warp(frame, jnp.zeros((SIZE, SIZE, 2))), frame)


def test_a_steady_pan_is_fitted_nearly_whole():
    state = _observed(_pan(21, 0.5))
    assert 0.8 < float(backtest.fitted_scale(state.sums, jnp.float32(0.0))) <= 1.0


def test_a_continued_pan_is_closer_to_the_truth_than_the_last_frame():
    frames = _pan(29, 0.5)
    state = _observed(frames[:21])
    ahead = _continued(state, 8)  # (8, S, S, 3)
    truth, last = to_unit(frames[21:29]), to_unit(frames[20])
    inner = np.s_[:, 4:-4, 4:-4]  # the edges repeat what left the picture
    continued_error = np.abs(ahead - truth)[inner].mean()
    repeat_error = np.abs(last[None] - truth)[inner].mean()
    assert continued_error < 0.3 * repeat_error


def test_still_footage_continues_as_the_last_frame_exactly():
    frames = np.repeat(_pan(1, 0.0), 21, axis=0)
    state = _observed(frames)
    ahead = _continued(state, 8)
    np.testing.assert_array_equal(ahead, jnp.broadcast_to(to_unit(frames[-1]), ahead.shape))


def test_motion_waits_for_a_test_before_it_moves_anything():
    frames = _pan(13, 0.5)
    state = _observed(frames[:9])  # three pushes: a flow, but no test of it yet
    assert np.abs(np.asarray(state.flow)).max() > 0.1
    ahead = _continued(state, 4)
    np.testing.assert_array_equal(ahead, jnp.broadcast_to(to_unit(frames[8]), ahead.shape))


@pytest.fixture(scope="module")
def moving(tiny_engine):
    """The tiny engine continuing motion, with detail carry-over: one compile for the module."""
    return tiny_engine.with_sampler(continue_motion=True, detail_width=0.5, detail_snap=1.0)


def _settings(engine):
    config = engine.config
    return session_settings(
        config.dit.window_frames, True, 0.0, 0, config.sampler.steps, config.sampler
    )


def test_a_session_streams_the_continued_pan_where_the_model_predicts_no_change(moving):
    frames = _pan(29, 0.5)
    settings = _settings(moving)
    timeline = pushed_timeline(moving, frames[:21], settings)
    # Change scale 0: the model predicts its own "no change" (the last latent frame repeated), so
    # the gate is open everywhere and the stream is the continued motion alone.
    still = settings._replace(change_scale=jnp.float32(0.0))
    pixels = np.asarray(moving.generate(timeline, still)[0].pixels)  # (4F, S, S, 3)
    expected = _continued(timeline.motion, 4)  # (4, S, S, 3)
    np.testing.assert_allclose(to_unit(pixels[:4]), expected, atol=2 / 255 + 1e-6)


def test_motion_the_dit_already_carries_is_not_added_again():
    frames = _pan(21, 0.5)
    state = _observed(frames)
    ahead = _continued(state, 8, explained=1.0)
    np.testing.assert_array_equal(ahead, jnp.broadcast_to(to_unit(frames[-1]), ahead.shape))


def test_a_zero_flow_splats_the_image_itself():
    frame = to_unit(_pan(1, 0.0)[0])
    np.testing.assert_array_equal(motion.splat(frame, jnp.zeros((SIZE, SIZE, 2))), frame)


def test_a_whole_pixel_splat_moves_the_content_and_keeps_what_it_uncovers():
    frame = to_unit(_pan(1, 0.0)[0])
    moved = np.asarray(
        motion.splat(frame, jnp.broadcast_to(jnp.array([0.0, 3.0]), (SIZE, SIZE, 2)))
    )
    np.testing.assert_allclose(moved[:, 3:], frame[:, :-3], atol=1e-6)
    # The uncovered band keeps the image's own, but for its last column, completed from the
    # moved content beside it as a crack would be.
    np.testing.assert_array_equal(moved[:, :2], frame[:, :2])


def test_a_splat_moves_only_what_moves():
    frame = np.zeros((SIZE, SIZE, 3), np.float32)
    frame[10:14, 10:14] = 1.0
    flow = np.zeros((SIZE, SIZE, 2), np.float32)
    flow[10:14, 10:14] = (0.0, 5.0)  # only the patch moves, 5 pixels right
    moved = np.asarray(motion.splat(jnp.asarray(frame), jnp.asarray(flow)))
    # Where the patch lands on the still background the two are averaged (no depth order).
    np.testing.assert_allclose(moved[10:14, 15:19], 0.5, atol=1e-6)
    outside = np.ones((SIZE, SIZE), bool)
    outside[10:14, 10:19] = False
    np.testing.assert_array_equal(moved[outside], frame[outside])


def test_a_zoom_splats_without_cracks():
    # A ramp zoomed in by 30% about the centre is the ramp compressed towards the centre; content
    # spread apart must not leave pixels of the unmoved image between the moved ones.
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    centre = (SIZE - 1) / 2
    ramp = np.repeat((x / SIZE)[..., None], 3, axis=-1)  # (S, S, 3)
    flow = 0.3 * np.stack([y - centre, x - centre], axis=-1)  # (S, S, 2)
    zoomed = np.asarray(motion.splat(jnp.asarray(ramp), jnp.asarray(flow)))
    expected = (centre + (x - centre) / 1.3) / SIZE
    inner = np.s_[8:-8, 8:-8]
    np.testing.assert_allclose(zoomed[inner][..., 0], expected[inner], atol=0.01)
