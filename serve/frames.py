"""Frames on the wire: stream.v1.Frame messages to and from uint8 RGB arrays.

RGB24 is the raw layout (row-major, 3 bytes per pixel); PNG and JPEG go through FFmpeg's image
codecs. Every check names the offending field by its path in the request, so a client can tell
which of its frames was wrong.
"""

from __future__ import annotations

import fractions
from collections.abc import Iterator

import av
import numpy as np

from serve.limits import MAX_FRAME_SIDE
from serve.wire import stream_pb2 as pb
from stream.media.video_io import resize_center_crop

_RGB24 = (pb.FRAME_ENCODING_UNSPECIFIED, pb.FRAME_ENCODING_RGB24)
_CODECS = {pb.FRAME_ENCODING_PNG: "png", pb.FRAME_ENCODING_JPEG: "mjpeg"}
_ENCODER_PIXELS = {pb.FRAME_ENCODING_PNG: "rgb24", pb.FRAME_ENCODING_JPEG: "yuvj420p"}
_ACCEPTED_ENCODINGS = "RGB24 (0 or 1), PNG (2), JPEG (3)"


def check_encoding(value: int, field: str) -> int:
    if value not in _RGB24 and value not in _CODECS:
        raise ValueError(f"{field}={value} is not a FrameEncoding; accepted: {_ACCEPTED_ENCODINGS}")
    return value


def check_side(value: int, field: str) -> int:
    if not 1 <= value <= MAX_FRAME_SIDE:
        raise ValueError(f"{field}={value} is out of range; accepted: 1..{MAX_FRAME_SIDE} pixels")
    return value


def frame_to_array(frame: pb.Frame, field: str) -> np.ndarray:
    """One wire frame as uint8 (H, W, 3); ValueError naming field on anything malformed."""
    encoding = check_encoding(frame.encoding, f"{field}.encoding")
    if encoding in _RGB24:
        width = check_side(frame.width, f"{field}.width")
        height = check_side(frame.height, f"{field}.height")
        expected = width * height * 3
        if len(frame.data) != expected:
            raise ValueError(
                f"{field}.data has {len(frame.data)} bytes; an RGB24 frame of width={width} "
                f"height={height} needs width*height*3 = {expected}"
            )
        return np.frombuffer(frame.data, np.uint8).reshape(height, width, 3)
    pixels = _decode_image(frame.data, encoding, field)
    height, width = pixels.shape[:2]
    check_side(width, f"{field}.width (of the image)")
    check_side(height, f"{field}.height (of the image)")
    for name, declared, actual in (("width", frame.width, width), ("height", frame.height, height)):
        if declared and declared != actual:
            raise ValueError(
                f"{field}.{name}={declared} does not match the image's {name} {actual}; "
                "accepted: 0 (take it from the image) or the image's own size"
            )
    return pixels


def iter_frames(
    frames: pb.Frames, field: str, size: int, max_frames: int, max_pixels: int
) -> Iterator[np.ndarray]:
    """The frames of a Frames message one at a time, resized to the model's size: uint8
    (size, size, 3). The frame count is checked now, before anything is decoded; decoded pixels
    are counted as the frames are made, so an image-encoded message costs at most max_pixels plus
    one picture before it is refused."""
    if not frames.items:
        raise ValueError(f"{field}.items is empty; accepted: one or more frames")
    if len(frames.items) > max_frames:
        raise ValueError(
            f"{field}.items has {len(frames.items)} frames; accepted: at most {max_frames} per "
            "message (the server's --max-frames-per-message)"
        )
    return _resized(frames, field, size, max_pixels)


def _resized(frames: pb.Frames, field: str, size: int, max_pixels: int) -> Iterator[np.ndarray]:
    pixels = 0
    for i, frame in enumerate(frames.items):
        raw = frame.encoding in _RGB24
        if raw:  # counted from the declared size, before the bytes are read
            pixels += frame.width * frame.height
            _check_pixels(pixels, max_pixels, field)
        picture = frame_to_array(frame, f"{field}.items[{i}]")  # (H, W, 3)
        if not raw:  # counted once decoded: FFmpeg caps one picture at MAX_FRAME_SIDE a side
            pixels += picture.shape[0] * picture.shape[1]
            _check_pixels(pixels, max_pixels, field)
        yield resize_center_crop(picture, size, size)


def _check_pixels(pixels: int, max_pixels: int, field: str) -> None:
    if pixels > max_pixels:
        raise ValueError(
            f"{field}: its frames hold more than {max_pixels} pixels; accepted: at most "
            f"{max_pixels} decoded pixels per message (the server's --max-pixels-per-message)"
        )


def array_to_frame(pixels: np.ndarray, encoding: int = pb.FRAME_ENCODING_RGB24) -> pb.Frame:
    """A uint8 (H, W, 3) array as a wire frame in the given encoding."""
    height, width = pixels.shape[:2]
    if encoding in _RGB24:
        data = np.ascontiguousarray(pixels).tobytes()
        return pb.Frame(width=width, height=height, encoding=pb.FRAME_ENCODING_RGB24, data=data)
    codec = av.CodecContext.create(_CODECS[encoding], "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = _ENCODER_PIXELS[encoding]
    codec.time_base = fractions.Fraction(1, 25)  # required by mjpeg; one still image has no rate
    image = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
    packets = codec.encode(image.reformat(format=codec.pix_fmt)) + codec.encode(None)
    data = b"".join(bytes(packet) for packet in packets)
    return pb.Frame(width=width, height=height, encoding=encoding, data=data)


def _decode_image(data: bytes, encoding: int, field: str) -> np.ndarray:
    name = pb.FrameEncoding.Name(encoding).removeprefix("FRAME_ENCODING_")
    codec = av.CodecContext.create(_CODECS[encoding], "r")
    # FFmpeg refuses larger pictures before allocating them (a tiny file can declare any size).
    codec.options = {"max_pixels": str(MAX_FRAME_SIDE * MAX_FRAME_SIDE)}
    try:
        images = codec.decode(av.Packet(data)) + codec.decode(None)
    except av.FFmpegError as error:
        images, reason = [], str(error)
    else:
        reason = "no picture in the data"
    if not images:
        raise ValueError(
            f"{field}.data: cannot decode {len(data)} bytes as {name} ({reason}); accepted: a "
            f"{name} image of at most {MAX_FRAME_SIDE}x{MAX_FRAME_SIDE} pixels"
        )
    return images[0].to_ndarray(format="rgb24")  # (H, W, 3)
