"""Reading real clips of many codecs, resizing without distortion, MP4 round trips, clear errors."""

from __future__ import annotations

import collections.abc
import io
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from stream.media.video_io import (
    encode_mp4_bytes,
    iter_video,
    probe_video,
    read_video,
    resize_center_crop,
    sample_clip_path,
    video_fps,
    write_mp4,
)
from stream.metrics import frame_psnr

# The 13 clips of ../shared/data/video (see SOURCES.md there).
SHARED_CLIPS = (
    "av1_video.mkv",
    "bigbuckbunny.mp4",
    "bikes.mp4",
    "carphone_pristine.mp4",
    "cockatoo.mp4",
    "flipping_a_pancake.mkv",
    "h265_video.mp4",
    "kinetics_armwrestling.mp4",
    "kinetics_test.mp4",
    "nasa_13013.mp4",
    "realshort.mp4",
    "tree.avi",
    "vtest.avi",
)


@pytest.fixture(scope="module")
def video_dir() -> Path:
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"
    path = Path(os.environ.get("STREAM_VIDEO_DIR", default))
    if not path.is_dir():
        pytest.skip(f"shared test clips not found at {path} (set STREAM_VIDEO_DIR to their folder)")
    return path


def _smooth_clip(frames: int, height: int, width: int) -> np.ndarray:
    """A slowly moving colour gradient: smooth, so a good codec keeps it nearly intact."""
    t = np.arange(frames)[:, None, None]
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    channels = [
        0.5 + 0.4 * np.sin(2 * np.pi * (x + 0.02 * t) + phase) * np.cos(np.pi * y)
        for phase in (0.0, 2.0, 4.0)
    ]
    return (np.stack(channels, axis=-1) * 255).round().astype(np.uint8)  # (T, H, W, 3)


@pytest.mark.parametrize("name", SHARED_CLIPS)
def test_every_shared_clip_decodes_at_64x64(video_dir: Path, name: str) -> None:
    frames, fps = read_video(video_dir / name, size=64, max_frames=10)
    assert frames.shape == (10, 64, 64, 3) and frames.dtype == np.uint8
    assert frames.std() > 5  # real picture content, not a constant
    assert 5 <= fps <= 60


def test_two_stream_file_decodes_its_first_video_stream(video_dir: Path) -> None:
    frames, fps = read_video(video_dir / "nasa_13013.mp4", max_frames=3)
    assert frames.shape == (3, 180, 320, 3)  # the second stream is 480x270 at 29.97 fps
    assert fps == 25.0


def test_odd_sized_clip_keeps_its_stored_size(video_dir: Path) -> None:
    frames, fps = read_video(video_dir / "carphone_pristine.mp4", max_frames=2)
    assert frames.shape == (2, 144, 176, 3)
    assert fps == pytest.approx(30000 / 1001)


def test_probe_counts_the_stored_frames_not_the_header(video_dir: Path) -> None:
    info = probe_video(video_dir / "tree.avi")  # its header claims 444 frames
    assert (info.width, info.height, info.num_frames, info.codec) == (320, 240, 68, "cinepak")
    assert info.fps == pytest.approx(15.0, abs=1e-3)


def test_sample_clip_ships_with_the_package() -> None:
    frames, fps = read_video(sample_clip_path(), size=(48, 64))
    assert frames.shape == (36, 48, 64, 3) and frames.dtype == np.uint8
    assert fps == pytest.approx(45000 / 1499)
    assert frames.std() > 5


def test_bytes_input_decodes_like_the_file() -> None:
    path = sample_clip_path()
    from_file, fps = read_video(path, size=32, max_frames=4)
    from_bytes, fps_bytes = read_video(path.read_bytes(), size=32, max_frames=4)
    np.testing.assert_array_equal(from_bytes, from_file)
    assert fps_bytes == fps
    assert probe_video(path.read_bytes()).path == "<bytes>"


def test_write_then_read_round_trips_shape_rate_and_content(tmp_path: Path) -> None:
    clip = _smooth_clip(12, 48, 64)
    write_mp4(tmp_path / "clip.mp4", clip, fps=16.0)
    frames, fps = read_video(tmp_path / "clip.mp4")
    assert frames.shape == clip.shape
    assert fps == 16.0
    assert frame_psnr(frames, clip) > 25


def test_video_fps_is_the_rate_read_video_reports() -> None:
    data = encode_mp4_bytes(_smooth_clip(5, 16, 16), fps=30000 / 1001)
    assert video_fps(data) == read_video(data)[1] == pytest.approx(30000 / 1001)
    assert video_fps(sample_clip_path()) == pytest.approx(45000 / 1499)


def test_odd_sizes_are_padded_to_even_when_written() -> None:
    clip = _smooth_clip(5, 33, 47)
    frames, _ = read_video(encode_mp4_bytes(iter(clip), fps=30000 / 1001))
    assert frames.shape == (5, 34, 48, 3)
    assert frame_psnr(frames[:, :33, :47], clip) > 25


def test_ntsc_rate_survives_encoding() -> None:
    info = probe_video(encode_mp4_bytes(_smooth_clip(3, 16, 16), fps=30000 / 1001))
    assert Fraction(info.fps).limit_denominator(1001) == Fraction(30000, 1001)
    assert (info.num_frames, info.codec) == (3, "h264")


def test_mpeg4_is_the_fallback_without_libx264(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(av, "codecs_available", av.codecs_available - {"libx264"})
    clip = _smooth_clip(6, 32, 32)
    data = encode_mp4_bytes(clip, fps=10.0)
    assert probe_video(data).codec == "mpeg4"
    assert frame_psnr(read_video(data)[0], clip) > 25


def test_missing_path_raises_value_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.mp4"
    with pytest.raises(ValueError, match="nowhere.mp4.*no such file"):
        read_video(missing)
    with pytest.raises(ValueError, match="nowhere.mp4"):
        iter_video(missing)


def test_garbage_file_raises_value_error_naming_it(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="garbage.mp4.*expected a video file"):
        read_video(garbage)
    with pytest.raises(ValueError, match="garbage.mp4"):
        probe_video(garbage)


def test_garbage_bytes_raise_value_error_naming_bytes() -> None:
    for data in (b"", b"not a video at all" * 50, sample_clip_path().read_bytes()[:4000]):
        with pytest.raises(ValueError, match="<bytes>"):
            read_video(data)


def test_file_without_video_stream_raises_value_error() -> None:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        samples = np.zeros((1, 1024), np.float32)
        for _ in range(4):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 8000
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(ValueError, match="<bytes>: no video stream.*audio"):
        read_video(buffer.getvalue())


@pytest.mark.parametrize("size", [0, -3, (64,), (64, 0), "64", 64.0, True])
def test_bad_size_raises_value_error_saying_what_is_accepted(size: object) -> None:
    with pytest.raises(ValueError, match="bad size.*positive int"):
        read_video(sample_clip_path(), size=size)


def test_wide_image_is_cropped_not_squashed() -> None:
    wide = np.zeros((64, 256, 3), np.uint8)
    wide[:, :64] = (255, 0, 0)  # red band, left
    wide[:, 64:192] = (0, 255, 0)  # green middle
    wide[:, 192:] = (0, 0, 255)  # blue band, right
    square = resize_center_crop(wide, 32, 32)
    assert square.shape == (32, 32, 3) and square.dtype == np.uint8
    np.testing.assert_array_equal(square, np.broadcast_to((0, 255, 0), square.shape))


def test_tall_image_is_cropped_not_squashed() -> None:
    tall = np.zeros((90, 30, 3), np.uint8)
    tall[30:60] = 200  # only the middle third is bright
    assert resize_center_crop(tall, 15, 15).min() == 200


def test_resize_averages_when_shrinking() -> None:
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)  # (64, 64)
    small = resize_center_crop(np.repeat(checker[..., None], 3, axis=-1), 8, 8)
    assert np.all(np.abs(small.astype(int) - 128) <= 2)  # area average, not sampling


def test_iter_video_is_lazy_and_respects_start_and_max_frames() -> None:
    frames = iter_video(sample_clip_path(), size=32, start=5, max_frames=3)
    assert isinstance(frames, collections.abc.Iterator)
    first = next(frames)
    assert first.shape == (32, 32, 3)
    rest = list(frames)
    assert len(rest) == 2
    expected, _ = read_video(sample_clip_path(), size=32, max_frames=8)
    np.testing.assert_array_equal(np.stack([first, *rest]), expected[5:8])


def test_reading_past_the_end_gives_no_frames() -> None:
    frames, _ = read_video(sample_clip_path(), size=(20, 30), start=1000)
    assert frames.shape == (0, 20, 30, 3)
