"""Session-level behaviour of the public API: Engine.open, push, extend, stream."""

from __future__ import annotations

import numpy as np
import pytest

from stream import Engine


def _extend(engine: Engine, clip: np.ndarray, pushes: list[int], n: int, **open_kw) -> np.ndarray:
    session = engine.open(**open_kw)
    start = 0
    for size in pushes:
        session.push(clip[start : start + size])
        start += size
    return session.extend(n)


def test_push_chunking_does_not_change_the_extension(tiny_engine, clip):
    whole = _extend(tiny_engine, clip, [17], 12, seed=3)
    assert whole.shape == (12, 32, 32, 3) and whole.dtype == np.uint8
    for plan in ([1] * 17, [4, 4, 4, 5], [7, 7, 3]):
        np.testing.assert_array_equal(_extend(tiny_engine, clip, plan, 12, seed=3), whole)


def test_extend_in_parts_equals_extend_at_once(tiny_engine, clip):
    session = tiny_engine.open(seed=5)
    session.push(clip)
    parts = np.concatenate([session.extend(5), session.extend(3), session.extend(9)])
    np.testing.assert_array_equal(parts, _extend(tiny_engine, clip, [17], 17, seed=5))


def test_stream_yields_the_frames_of_extend(tiny_engine, clip):
    session = tiny_engine.open(seed=2)
    session.push(clip)
    chunks = list(session.stream(20))
    assert len(chunks) > 1
    np.testing.assert_array_equal(
        np.concatenate(chunks), _extend(tiny_engine, clip, [17], 20, seed=2)
    )


def test_same_seed_same_bits_and_other_seed_other_video(tiny_engine, clip):
    first = _extend(tiny_engine, clip, [17], 8, seed=11)
    np.testing.assert_array_equal(first, _extend(tiny_engine, clip, [17], 8, seed=11))
    assert not np.array_equal(first, _extend(tiny_engine, clip, [17], 8, seed=12))


@pytest.mark.parametrize("anchor", ["attention", "guidance", "both"])
def test_anchor_modes_change_the_output_once_the_window_has_rolled(tiny_engine, clip, anchor):
    # 17 frames are 5 latent frames; a window of 2 has forgotten z_0 by the first chunk.
    plain = _extend(tiny_engine, clip, [17], 8, seed=1, window=2, anchor="none")
    anchored = _extend(tiny_engine, clip, [17], 8, seed=1, window=2, anchor=anchor)
    assert not np.array_equal(plain, anchored)


def test_any_input_size_is_resized_to_the_model(tiny_engine):
    session = tiny_engine.open()
    session.push(np.full((5, 48, 80, 3), 100, np.uint8))
    assert session.extend(4).shape == (4, 32, 32, 3)


def test_real_frames_after_a_prediction_replace_it(tiny_engine, clip):
    truth = _extend(tiny_engine, clip, [17], 8, seed=4)
    session = tiny_engine.open(seed=4)
    session.push(clip[:9])
    session.extend(8)  # a prediction of frames 9..16, soon replaced by the real ones
    session.push(clip[9:])
    np.testing.assert_array_equal(session.extend(8), truth)


def test_prediction_error_is_reported_against_real_frames(tiny_engine, clip):
    session = tiny_engine.open(seed=4)
    session.push(clip[:9])
    assert session.prediction_error is None
    predicted = session.extend(8)
    session.push(predicted[:4])  # the prediction itself: no pixel error
    assert session.prediction_error.pixel_frames == 4
    assert session.prediction_error.psnr_db == float("inf")
    session.push(255 - clip[13:17])
    error = session.prediction_error
    assert error.pixel_frames == 8 and np.isfinite(error.psnr_db)
    assert error.latent_frames == 2 and error.latent_norm > 0 and error.latent_rms > 0


BAD_FRAMES = {
    "dtype": (np.zeros((2, 32, 32, 3), np.float32), "dtype"),
    "rank": (np.zeros((32, 32, 3), np.uint8), "rank"),
    "channels": (np.zeros((2, 32, 32, 4), np.uint8), "3 channels"),
    "empty": (np.zeros((0, 32, 32, 3), np.uint8), "non-empty"),
    "zero width": (np.zeros((2, 32, 0, 3), np.uint8), "non-empty"),
    "not an array": ([[1, 2, 3]], "numpy array"),
}


@pytest.mark.parametrize("name", BAD_FRAMES)
def test_bad_frames_are_refused_by_name_and_the_session_still_works(tiny_engine, clip, name):
    frames, message = BAD_FRAMES[name]
    session = tiny_engine.open(seed=3)
    session.push(clip[:5])
    with pytest.raises(ValueError, match=message):
        session.push(frames)
    session.push(clip[5:])
    np.testing.assert_array_equal(session.extend(12), _extend(tiny_engine, clip, [17], 12, seed=3))


def test_extend_before_any_push_is_refused_and_the_session_still_works(tiny_engine, clip):
    session = tiny_engine.open()
    with pytest.raises(ValueError, match="before any push"):
        session.extend(4)
    session.push(clip[:1])
    assert session.extend(4).shape == (4, 32, 32, 3)


@pytest.mark.parametrize("count", [0, -3, 2.5, "8", True])
def test_bad_frame_counts_are_refused(tiny_engine, clip, count):
    session = tiny_engine.open()
    session.push(clip[:1])
    with pytest.raises(ValueError, match="num_frames"):
        session.extend(count)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"anchor": "sink"}, "anchor"),
        ({"anchor": None}, "anchor"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**32}, "seed"),
        ({"steps": 0}, "steps"),
        ({"window": 0}, "window"),
        ({"window": 999}, "window"),
        ({"guidance": -1.0}, "guidance"),
    ],
)
def test_bad_session_options_name_the_field(tiny_engine, options, field):
    with pytest.raises(ValueError, match=field):
        tiny_engine.open(**options)


def _nearest_in_time(frames: int, source_fps: float, model_fps: float) -> list[int]:
    """The source frame each model frame shows: the one nearest in time, a tie to the earlier."""
    count = int((frames - 0.5) * model_fps / source_fps) + 1
    return [int(np.ceil(k * source_fps / model_fps - 0.5)) for k in range(count)]


def test_frames_pushed_with_their_fps_are_resampled_to_the_models_rate(tiny_engine, clip):
    model_fps = tiny_engine.config.fps
    picks = _nearest_in_time(len(clip), 25.0, model_fps)
    assert len(picks) < len(clip)  # 25 fps to the model's slower rate drops frames
    at_25 = tiny_engine.open(seed=3)
    at_25.push(clip, fps=25)
    resampled = tiny_engine.open(seed=3)
    resampled.push(clip[picks])
    assert at_25.frames_pushed == len(picks)
    np.testing.assert_array_equal(at_25.extend(8), resampled.extend(8))


def test_frames_pushed_with_their_fps_in_any_split_give_the_same_session(tiny_engine, clip):
    whole = tiny_engine.open(seed=3)
    whole.push(clip, fps=25)
    split = tiny_engine.open(seed=3)
    for start, stop in [(0, 1), (1, 2), (2, 7), (7, len(clip))]:  # (1, 2) gives no frame
        split.push(clip[start:stop], fps=25)
    assert split.frames_pushed == whole.frames_pushed
    np.testing.assert_array_equal(split.extend(8), whole.extend(8))


@pytest.mark.parametrize("fps", [0, -16, 1e9, float("nan"), "25"])
def test_a_bad_fps_is_refused_by_name_and_the_session_still_works(tiny_engine, clip, fps):
    session = tiny_engine.open()
    with pytest.raises(ValueError, match="^fps="):
        session.push(clip, fps=fps)
    session.push(clip, fps=16)
    assert session.frames_pushed == len(clip)


def test_last_chunk_names_the_first_frame_and_length_of_the_piece_just_yielded(tiny_engine, clip):
    session = tiny_engine.open()
    session.push(clip)
    handed_out = len(clip)
    for ask in (3, 8, 2, 13):  # pieces cut from the middle of chunks, and whole chunks
        for piece in session.stream(ask):
            assert session.last_chunk.first_frame == handed_out
            assert session.last_chunk.num_frames == len(piece)
            handed_out += len(piece)


def test_pieces_of_one_chunk_carry_that_chunks_index(tiny_engine, clip):
    session = tiny_engine.open()
    session.push(clip)
    first = session.extend(3)
    first_index = session.last_chunk.index
    list(session.stream(len(first)))
    assert session.last_chunk.index == first_index
