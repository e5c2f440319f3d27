"""Video files in and out: decode the containers of VIDEO_FORMATS to RGB frames, resize and
centre-crop, write MP4.

Reading always uses the first video stream and returns the frames actually stored in it (no
constant-frame-rate resampling, which duplicates or drops frames). Every failure to find, open,
demux or decode an input becomes a ValueError naming the input (a path, or "<bytes>").
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import math
import numbers
import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

VideoSource = str | os.PathLike[str] | bytes

_FALLBACK_FPS = 25.0
# The container formats (FFmpeg demuxer names) a video is read from, on every path, in process and
# over the wire: those cameras and archives write. mov: MP4, MOV, 3GP; matroska: MKV, WebM; mpeg:
# MPEG program streams (.mpg, .vob); mpegts: transport streams; ogg; yuv4mpegpipe: Y4M; asf: WMV;
# then GIF, FLV, IVF and raw H.264, HEVC and MPEG-4 streams. Only demuxers that read the bytes
# they are given: SDP, HLS, concat and the other protocol demuxers open other files or network
# addresses, and FFmpeg refuses a format off this list once probed, before it reads a header.
VIDEO_FORMATS = (
    "mov",
    "matroska",
    "avi",
    "mpeg",
    "mpegts",
    "ogg",
    "yuv4mpegpipe",
    "asf",
    "gif",
    "flv",
    "ivf",
    "h264",
    "hevc",
    "m4v",
)
_READABLE = f"a video file in one of: {', '.join(VIDEO_FORMATS)}"


@dataclasses.dataclass(frozen=True)
class DecodeLimits:
    """Bounds on what reading untrusted bytes may cost, checked before the cost is paid."""

    max_side: int  # largest width or height of a picture, from the header before decoding
    max_pixels: int  # decoded pixels (width * height summed over frames) of the whole read


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    path: str  # the file as given, or "<bytes>"
    width: int
    height: int
    fps: float
    num_frames: int | None  # frames stored in the first video stream; None if none are stored
    codec: str  # codec of the stream (e.g. "h264", "av1"), not the name of the decoder


def sample_clip_path() -> Path:
    """A short real clip shipped with the package (320x240, 36 frames, 30 fps; see NOTICE.md)."""
    return Path(__file__).resolve().parents[1] / "assets" / "realshort.mp4"


def probe_video(source: VideoSource) -> VideoInfo:
    """Size, rate, stored frame count and codec of the first video stream.

    The frame count comes from demuxing (not decoding) every packet of the stream, since
    container headers can be wrong (tree.avi declares 444 frames and stores 68); this reads the
    whole file once, which is fast next to decoding it.
    """
    with _open_video(source) as (container, stream, name):
        stored = _count_packets(container, stream, name, None)
        return VideoInfo(
            path=name,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=_stream_fps(stream),
            num_frames=stored or None,
            codec=stream.codec_context.codec.canonical_name,
        )


def stored_frames(source: VideoSource, limits: DecodeLimits, most: int) -> int:
    """Frames stored in the first video stream, counted from its packets without decoding them
    (a header's own count can be wrong or absent), up to most + 1: what deciding that a video has
    more than `most` frames costs is demuxing most + 1 packets."""
    with _open_video(source, limits) as (container, stream, name):
        return _count_packets(container, stream, name, most + 1)


def _count_packets(
    container: av.container.InputContainer, stream: av.VideoStream, name: str, stop: int | None
) -> int:
    packets = (packet for packet in container.demux(stream) if packet.size > 0)
    try:
        return sum(1 for _ in itertools.islice(packets, stop))
    except av.FFmpegError as error:
        raise ValueError(f"{name}: cannot demux the video stream ({error})") from error


def video_fps(source: VideoSource, limits: DecodeLimits | None = None) -> float:
    """The first video stream's frame rate, from its header alone (probe_video reads the file)."""
    with _open_video(source, limits) as (_, stream, _):
        return _stream_fps(stream)


def read_video(
    source: VideoSource,
    size: int | tuple[int, int] | None = None,
    start: int = 0,
    max_frames: int | None = None,
) -> tuple[np.ndarray, float]:
    """Frames start .. start + max_frames - 1 as uint8 (N, H, W, 3) RGB, and the stream's fps.

    size is (height, width), an int for a square, or None for the stored size. Frames are
    scaled to cover the target and centre-cropped, so nothing is distorted. N is smaller than
    max_frames (possibly 0) when the stream ends first.
    """
    target = _target_size(size, _describe(source))
    _check_range(start, max_frames, _describe(source))
    with _open_video(source) as (container, stream, name):
        fps = _stream_fps(stream)
        frames = list(_decode(container, stream, name, target, start, max_frames))
        if frames:
            return np.stack(frames), fps  # (N, H, W, 3)
        height, width = target or (stream.codec_context.height, stream.codec_context.width)
        return np.zeros((0, height, width, 3), np.uint8), fps


def iter_video(
    source: VideoSource,
    size: int | tuple[int, int] | None = None,
    start: int = 0,
    max_frames: int | None = None,
    limits: DecodeLimits | None = None,
) -> Iterator[np.ndarray]:
    """Same frames as read_video, one uint8 (H, W, 3) array at a time, decoded on demand.

    Arguments and the file's existence are checked now; a file that cannot be opened or decoded,
    or that goes past `limits`, raises its ValueError from the iteration.
    """
    name = _describe(source)
    target = _target_size(size, name)
    _check_range(start, max_frames, name)
    _check_exists(source, name)
    return _iterate(source, target, start, max_frames, limits)


def _iterate(
    source: VideoSource,
    target: tuple[int, int] | None,
    start: int,
    max_frames: int | None,
    limits: DecodeLimits | None,
) -> Iterator[np.ndarray]:
    with _open_video(source, limits) as (container, stream, name):
        max_pixels = None if limits is None else limits.max_pixels
        yield from _decode(container, stream, name, target, start, max_frames, max_pixels)


def resize_center_crop(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Scales a uint8 (H, W, 3) RGB frame to cover (height, width), then crops the centre.

    Area averaging when shrinking, bilinear when enlarging (swscale through PyAV). A frame
    already of the target size is returned as is.
    """
    frame = _checked_frame(frame, "resize_center_crop", None)
    _target_size((height, width), "resize_center_crop")
    if frame.shape[:2] == (height, width):
        return frame
    image = av.VideoFrame.from_ndarray(frame, format="rgb24")
    return _scale_crop(image, height, width)


def write_mp4(
    path: str | os.PathLike[str], frames: np.ndarray | Iterable[np.ndarray], fps: float
) -> None:
    """Writes uint8 RGB frames, (T, H, W, 3) or an iterable of (H, W, 3), as an MP4 file.

    See encode_mp4_bytes for the codec and how odd sizes are handled.
    """
    name = os.fspath(path)
    _encode(name, frames, fps, name)


def encode_mp4_bytes(frames: np.ndarray | Iterable[np.ndarray], fps: float) -> bytes:
    """An MP4 file in memory holding uint8 RGB frames, (T, H, W, 3) or an iterable of (H, W, 3).

    H.264 through libx264 (CRF 18) when PyAV's FFmpeg has it, MPEG-4 part 2 otherwise; 4:2:0
    chroma, which needs even sizes, so an odd height or width gets one more row or column
    repeating the last one (read back, such a video is one pixel taller or wider).
    """
    buffer = io.BytesIO()
    _encode(buffer, frames, fps, "<bytes>")
    return buffer.getvalue()


def _describe(source: object) -> str:
    if isinstance(source, bytes | bytearray | memoryview):
        return "<bytes>"
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    raise ValueError(f"expected a path (str or os.PathLike) or bytes, got {type(source).__name__}")


def _check_exists(source: VideoSource, name: str) -> None:
    if isinstance(source, bytes | bytearray | memoryview):
        return
    path = Path(source)
    if not path.exists():
        raise ValueError(f"{name}: no such file; expected {_READABLE}")
    if not path.is_file():
        raise ValueError(f"{name}: not a regular file; expected {_READABLE}")


@contextlib.contextmanager
def _open_video(
    source: VideoSource, limits: DecodeLimits | None = None
) -> Iterator[tuple[av.container.InputContainer, av.VideoStream, str]]:
    """The open container, its first video stream and the input's name; closes on exit."""
    name = _describe(source)
    _check_exists(source, name)
    target = io.BytesIO(source) if name == "<bytes>" else name
    options = {"format_whitelist": ",".join(VIDEO_FORMATS)}
    if limits is not None:
        # The decoder's own cap makes FFmpeg refuse a larger picture before allocating it, also
        # one that appears after the header (a size change mid-stream).
        options["max_pixels"] = str(limits.max_side**2)
    try:
        container = av.open(target, mode="r", options=options)
    except (av.FFmpegError, OSError) as error:
        raise ValueError(
            f"{name}: cannot open as a video ({error}); expected {_READABLE}"
        ) from error
    with container:
        if not container.streams.video:
            kinds = ", ".join(stream.type for stream in container.streams) or "none"
            raise ValueError(f"{name}: no video stream (streams: {kinds}); expected {_READABLE}")
        stream = container.streams.video[0]
        if limits is not None:
            _check_picture_size(stream, name, limits.max_side)
            stream.codec_context.options = {"max_pixels": str(limits.max_side**2)}
        yield container, stream, name


def _check_picture_size(stream: av.VideoStream, name: str, max_side: int) -> None:
    width, height = stream.codec_context.width, stream.codec_context.height
    if width > max_side or height > max_side:
        raise ValueError(
            f"{name}: its pictures are {width}x{height}; accepted: at most {max_side} pixels a "
            "side (checked before decoding)"
        )


def _decode(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    name: str,
    target: tuple[int, int] | None,
    start: int,
    max_frames: int | None,
    max_pixels: int | None = None,
) -> Iterator[np.ndarray]:
    if max_frames == 0:
        return
    stop = math.inf if max_frames is None else start + max_frames
    stream.thread_type = "AUTO"  # frame and slice threads: decoding is the cost of reading
    decoded = pixels = 0
    try:
        for frame in container.decode(stream):
            decoded += 1
            # The decoder caps each picture, so the total is passed by at most one picture.
            pixels += frame.width * frame.height
            if max_pixels is not None and pixels > max_pixels:
                raise ValueError(
                    f"{name}: its frames hold more than {max_pixels} pixels; accepted: at most "
                    f"{max_pixels} decoded pixels (frames x width x height)"
                )
            if decoded <= start:
                continue  # frames before start are decoded, since seeking lands on keyframes
            if target is None:
                yield frame.to_ndarray(format="rgb24")  # (H, W, 3)
            else:
                yield _scale_crop(frame, *target)  # (h, w, 3)
            if decoded >= stop:
                return
    except av.FFmpegError as error:
        raise ValueError(f"{name}: decoding failed after {decoded} frames ({error})") from error


def _scale_crop(frame: av.VideoFrame, height: int, width: int) -> np.ndarray:
    """One swscale pass converts to RGB and scales to cover (height, width); numpy crops."""
    scale = max(height / frame.height, width / frame.width)
    scaled_h = max(height, round(frame.height * scale))
    scaled_w = max(width, round(frame.width * scale))
    scaled = frame.reformat(
        width=scaled_w,
        height=scaled_h,
        format="rgb24",
        interpolation="AREA" if scale < 1 else "BILINEAR",
    ).to_ndarray()  # (scaled_h, scaled_w, 3)
    top, left = (scaled_h - height) // 2, (scaled_w - width) // 2
    return scaled[top : top + height, left : left + width]  # (height, width, 3)


def _stream_fps(stream: av.VideoStream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate is not None and rate > 0:
            return float(rate)
    return _FALLBACK_FPS


def _target_size(size: object, name: str) -> tuple[int, int] | None:
    if size is None:
        return None
    pair = (size, size) if _is_int(size) else size
    if (
        isinstance(pair, tuple | list)
        and len(pair) == 2
        and all(_is_int(side) and side > 0 for side in pair)
    ):
        return int(pair[0]), int(pair[1])
    raise ValueError(
        f"{name}: bad size {size!r}; expected None (stored size), a positive int (square) "
        "or a (height, width) pair of positive ints"
    )


def _check_range(start: object, max_frames: object, name: str) -> None:
    if not _is_int(start) or start < 0:
        raise ValueError(f"{name}: bad start {start!r}; expected an int >= 0")
    if max_frames is not None and (not _is_int(max_frames) or max_frames < 0):
        raise ValueError(f"{name}: bad max_frames {max_frames!r}; expected None or an int >= 0")


def _encode(
    target: str | io.BytesIO, frames: np.ndarray | Iterable[np.ndarray], fps: float, name: str
) -> None:
    if not isinstance(fps, numbers.Real) or isinstance(fps, bool) or not 0 < fps < math.inf:
        raise ValueError(f"{name}: bad fps {fps!r}; expected a finite number > 0")
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError(f"{name}: no frames to write; expected at least one uint8 (H, W, 3) frame")
    height, width = _checked_frame(first, name, None).shape[:2]
    encoder = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    rate = Fraction(fps).limit_denominator(1001)  # keeps NTSC rates such as 30000/1001 exact
    try:
        with av.open(target, mode="w", format="mp4") as container:
            stream = container.add_stream(encoder, rate=rate)
            stream.height, stream.width = height + height % 2, width + width % 2
            stream.pix_fmt = "yuv420p"
            if encoder == "libx264":
                stream.options = {"crf": "18"}
            else:
                # mpeg4's default 200 kb/s smears anything bigger than a thumbnail.
                stream.bit_rate = max(200_000, int(stream.height * stream.width * float(rate)))
            for frame in itertools.chain([first], frames):
                pixels = _checked_frame(frame, name, (height, width))
                pixels = np.pad(pixels, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
                container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
            container.mux(stream.encode())  # flush the encoder's delayed frames
    except (av.FFmpegError, OSError) as error:
        raise ValueError(f"{name}: cannot write MP4 ({error})") from error


def _checked_frame(frame: object, name: str, shape: tuple[int, int] | None) -> np.ndarray:
    ok = (
        isinstance(frame, np.ndarray)
        and frame.dtype == np.uint8
        and frame.ndim == 3
        and frame.shape[2] == 3
        and 0 not in frame.shape
    )
    if not ok or (shape is not None and frame.shape[:2] != shape):
        expected = "(H, W, 3)" if shape is None else f"({shape[0]}, {shape[1]}, 3) like the first"
        raise ValueError(
            f"{name}: expected uint8 RGB frames {expected}, got {_array_summary(frame)}"
        )
    return np.ascontiguousarray(frame)


def _array_summary(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)
