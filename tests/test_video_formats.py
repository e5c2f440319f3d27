"""One demuxer allow-list on every path: the containers cameras and archives write are read in
process and over the wire alike, and protocol demuxers (SDP, HLS, concat), which open other files
or network addresses, are refused on both before any of that happens."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import av
import grpc
import numpy as np
import pytest

from serve.background import BackgroundServer
from serve.client import StreamClient
from serve.settings import ServerSettings
from stream.media.video_io import VIDEO_FORMATS, read_video, video_fps

# file name: (FFmpeg muxer, encoder, pixel format) of a tiny clip in that container
CONTAINERS = {
    "clip.mp4": ("mp4", "mpeg4", "yuv420p"),
    "clip.mov": ("mov", "mpeg4", "yuv420p"),
    "clip.3gp": ("3gp", "mpeg4", "yuv420p"),
    "clip.mkv": ("matroska", "mpeg4", "yuv420p"),
    "clip.webm": ("webm", "libvpx", "yuv420p"),
    "clip.avi": ("avi", "mpeg4", "yuv420p"),
    "clip.mpg": ("mpeg", "mpeg1video", "yuv420p"),  # MPEG program stream
    "clip.ts": ("mpegts", "mpeg2video", "yuv420p"),
    "clip.ogv": ("ogg", "libvpx", "yuv420p"),
    "clip.y4m": ("yuv4mpegpipe", "rawvideo", "yuv420p"),
    "clip.wmv": ("asf", "wmv2", "yuv420p"),
    "clip.gif": ("gif", "gif", "rgb8"),
}
FRAMES = 9
REFUSED_WITHIN_S = 0.1


def _write(path: Path, muxer: str, encoder: str, pixel_format: str) -> Path:
    with av.open(str(path), "w", format=muxer) as container:
        stream = container.add_stream(encoder, rate=25)
        stream.width = stream.height = 32
        stream.pix_fmt = pixel_format
        for index in range(FRAMES):
            rgb = np.full((32, 32, 3), 20 * index, np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pixel_format)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("containers")
    return {name: _write(folder / name, *spec) for name, spec in CONTAINERS.items()}


@pytest.fixture(scope="module")
def client(tiny_engine):
    server = BackgroundServer(tiny_engine, ServerSettings(port=0), warm=False).start()
    try:
        with StreamClient(server.target) as connected:
            connected.info()  # connected, so a timing below is the call's alone
            yield connected
    finally:
        server.stop()


def _shared_clip(name: str) -> Path:
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    folders = [Path(os.environ["STREAM_VIDEO_DIR"])] if "STREAM_VIDEO_DIR" in os.environ else []
    for folder in [*folders, shared / "video", shared / "video-extra"]:
        if (folder / name).is_file():
            return folder / name
    pytest.skip(f"{name} not found in the shared clip folders beside the repository")


@pytest.mark.parametrize("name", CONTAINERS)
def test_every_camera_and_archive_container_is_read_in_process(clips, name):
    frames, fps = read_video(clips[name], size=16)
    assert frames.shape == (FRAMES, 16, 16, 3)
    assert fps == pytest.approx(25) and video_fps(clips[name]) == pytest.approx(25)


@pytest.mark.parametrize("name", CONTAINERS)
def test_every_camera_and_archive_container_is_extended_over_the_wire(clips, client, name):
    chunks = list(client.extend(clips[name], num_frames=1))
    assert sum(len(chunk.frames) for chunk in chunks) == 1


@pytest.mark.parametrize(
    "name", ["kivy_city_cc0.mpg", "mswin_ladybug.wmv", "intel_store_aisle.gif", "tree.avi"]
)
def test_real_clips_of_those_containers_are_read(name):
    frames, _ = read_video(_shared_clip(name), size=16, max_frames=2)
    assert frames.shape == (2, 16, 16, 3)


def _listener() -> socket.socket:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    listening.setblocking(False)
    return listening


def _connections(listening: socket.socket) -> int:
    count = 0
    while True:
        try:
            listening.accept()[0].close()
        except BlockingIOError:
            return count
        count += 1


def _protocol_files(folder: Path, port: int, local_clip: Path) -> dict[str, bytes]:
    """Inputs whose demuxer would open a network address or another file: an SDP session, an
    HLS playlist and an ffconcat list (of a readable local clip), all of them pointing at port."""
    return {
        "stream.sdp": (
            f"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=video {port} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
        ).encode(),
        "stream.m3u8": (
            "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n"
            f"http://127.0.0.1:{port}/segment.ts\n#EXT-X-ENDLIST\n"
        ).encode(),
        "list.ffconcat": (
            f"ffconcat version 1.0\nfile http://127.0.0.1:{port}/clip.mp4\nfile {local_clip}\n"
        ).encode(),
    }


@pytest.mark.parametrize("name", ["stream.sdp", "stream.m3u8", "list.ffconcat"])
def test_protocol_demuxers_are_refused_in_process_at_once_and_open_nothing(clips, tmp_path, name):
    with _listener() as listening:
        data = _protocol_files(tmp_path, listening.getsockname()[1], clips["clip.mp4"])[name]
        path = tmp_path / name
        path.write_bytes(data)
        for source in (path, data):
            started = time.monotonic()
            with pytest.raises(ValueError, match="cannot open as a video"):
                read_video(source)
            assert time.monotonic() - started < REFUSED_WITHIN_S
        assert _connections(listening) == 0


@pytest.mark.parametrize("name", ["stream.sdp", "stream.m3u8", "list.ffconcat"])
def test_protocol_demuxers_are_refused_over_the_wire_at_once_and_open_nothing(
    clips, client, tmp_path, name
):
    with _listener() as listening:
        data = _protocol_files(tmp_path, listening.getsockname()[1], clips["clip.mp4"])[name]
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as refused:
            list(client.extend(data, num_frames=1))
        assert time.monotonic() - started < REFUSED_WITHIN_S
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"expected a video file in one of: {', '.join(VIDEO_FORMATS)}" in (
            refused.value.details()
        )
        assert _connections(listening) == 0
