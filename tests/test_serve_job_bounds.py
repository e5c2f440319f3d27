"""A job's input is bounded before it is paid for: its frames, as stored and at the model's rate,
are counted before decoding (and again while decoding), so an over-long input is refused at once
instead of after a minute of pushing."""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest

from serve import extend_job
from serve.background import BackgroundServer
from serve.client import StreamClient
from serve.limits import DEFAULT_FRAMES_PER_MESSAGE, DEFAULT_JOB_FRAMES, Limits
from serve.settings import ServerSettings
from stream.media.video_io import encode_mp4_bytes

REFUSED_WITHIN_S = 0.5


@pytest.fixture(scope="module")
def server(tiny_engine):
    with BackgroundServer(tiny_engine, ServerSettings(port=0), warm=False) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    with StreamClient(server.target) as connected:
        yield connected


def _tiny_frames(count: int, side: int = 8) -> np.ndarray:
    """count frames of side x side, each a different grey, uint8 (count, side, side, 3)."""
    greys = (np.arange(count) % 256).astype(np.uint8)
    return np.broadcast_to(greys[:, None, None, None], (count, side, side, 3)).copy()


def _refusal(job) -> tuple[grpc.RpcError, float]:
    """The error a job ends with and the seconds it took."""
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as raised:
        list(job)
    return raised.value, time.monotonic() - started


def test_a_video_of_more_frames_than_the_job_limit_is_refused_at_once(client):
    video = encode_mp4_bytes(_tiny_frames(DEFAULT_JOB_FRAMES + 1), fps=16)
    error, seconds = _refusal(client.extend(video, num_frames=1))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"video: more than {DEFAULT_JOB_FRAMES} frames" in error.details()
    assert "--max-job-frames" in error.details()
    assert seconds < REFUSED_WITHIN_S


def test_frames_at_1_fps_past_the_message_limit_at_the_models_rate_are_refused_at_once(client):
    frames = _tiny_frames(DEFAULT_FRAMES_PER_MESSAGE, side=4)
    error, seconds = _refusal(client.extend(frames, num_frames=1, source_fps=1.0))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "frames.items: 256 frames at 1 fps become 4089 at the model's 16 fps" in error.details()
    assert "--max-frames-per-message" in error.details()
    assert seconds < REFUSED_WITHIN_S


def test_a_video_at_1_fps_past_the_job_limit_at_the_models_rate_is_refused_at_once(client):
    stored = DEFAULT_JOB_FRAMES // 16 + 1  # 257 frames at 1 fps are 4105 at 16 fps
    video = encode_mp4_bytes(_tiny_frames(stored), fps=1)
    error, seconds = _refusal(client.extend(video, num_frames=1))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "video: 257 frames at 1 fps become 4105 at the model's 16 fps" in error.details()
    assert "--max-job-frames" in error.details()
    assert seconds < REFUSED_WITHIN_S


def test_a_video_that_decodes_to_more_frames_than_counted_is_refused_while_decoding(
    tiny_engine, monkeypatch
):
    monkeypatch.setattr(extend_job, "stored_frames", lambda *args: 1)  # a count that lies
    settings = ServerSettings(port=0, limits=Limits(job_frames=64))
    video = encode_mp4_bytes(_tiny_frames(5), fps=1)  # 65 frames at 16 fps
    small = BackgroundServer(tiny_engine, settings, warm=False).start()
    try:
        with StreamClient(small.target) as client:
            error, _ = _refusal(client.extend(video, num_frames=1))
    finally:
        small.stop()
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "video: more than 64 frames at the model's rate once decoded" in error.details()
