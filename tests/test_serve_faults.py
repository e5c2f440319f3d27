"""The fault suite: what a hostile or careless client can do to a real server on a loopback port.

Each test names the property it holds; each was a defect of issue 13 (cost bombs, work that
outlived its call, wrong status codes, shutdown, nothing to operate by).
"""

from __future__ import annotations

import concurrent.futures
import pathlib
import resource
import signal
import threading
import time
import urllib.request

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from conftest import free_port
from lab.fuzz import (
    EXPECTED_CODES,
    JOBS,
    RAW,
    RESUMES,
    SERVICE,
    SESSION_REQUESTS,
    job_code,
    raw_call,
    resume_code,
    session_code,
)
from serve.background import BackgroundServer
from serve.client import StreamClient, frames_message
from serve.frames import frame_to_array
from serve.limits import DEFAULT_GENERATED_FRAMES, MAX_GUIDANCE, Limits
from serve.settings import ServerSettings
from serve.wire import stream_pb2 as pb
from serve.wire import stream_pb2_grpc
from stream.media.video_io import encode_mp4_bytes

pytestmark = pytest.mark.slow  # the edit-test loop leaves it out (README, Tests)

TOKEN = "fault-token"


def _start(engine, **changes) -> BackgroundServer:
    return BackgroundServer(engine, ServerSettings(port=0, **changes), warm=False).start()


@pytest.fixture(scope="module")
def server(tiny_engine):
    running = _start(tiny_engine, max_sessions=2, metrics_port=0)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server):
    with StreamClient(server.target) as connected:
        yield connected


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.target) as opened:
        yield opened


@pytest.fixture(scope="module")
def stub(channel):
    return stream_pb2_grpc.VideoStreamStub(channel)


_CONFIG = pb.SessionRequest(config=pb.SessionConfig())


def _push_error(stub, frames: pb.Frames) -> grpc.RpcError:
    requests = [_CONFIG, pb.SessionRequest(frames=frames)]
    return _error(lambda: list(stub.Session(iter(requests), timeout=60)))


def _error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def _cpu_and_peak_memory(fn) -> tuple[float, float]:
    """Seconds of CPU time of this process (the server's threads included) and growth of its peak
    resident memory in MiB while fn runs."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu = time.process_time()
    fn()
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    return time.process_time() - cpu, grown


def _wait_for_free_slots(server: BackgroundServer, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while server.server.service.slots.active:
        assert time.monotonic() < deadline, "a slot was never freed"
        time.sleep(0.005)


# Bounded work


def test_thirty_thousand_tiny_frames_in_one_message_are_refused_before_any_work(stub):
    frames = frames_message(np.zeros((30_000, 1, 1, 3), np.uint8))  # 330 KB on the wire
    errors = []
    cpu, memory = _cpu_and_peak_memory(lambda: errors.append(_push_error(stub, frames)))
    assert errors[0].code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "30000 frames; accepted: at most 256" in errors[0].details()
    assert cpu < 2.0 and memory < 100


def test_frames_that_a_low_source_rate_would_multiply_past_the_limit_are_refused(stub):
    config = pb.SessionConfig(source_fps=1.0)  # a frame becomes 16 at the model's 16 fps
    frames = frames_message(np.zeros((64, 1, 1, 3), np.uint8))
    requests = [pb.SessionRequest(config=config), pb.SessionRequest(frames=frames)]
    errors = []
    cpu, _ = _cpu_and_peak_memory(
        lambda: errors.append(_error(lambda: list(stub.Session(iter(requests), timeout=60))))
    )
    assert errors[0].code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "64 frames at source_fps 1 become 1017 at the model's 16 fps" in errors[0].details()
    assert cpu < 2.0


def test_png_frames_that_decode_past_the_pixel_limit_are_refused(stub):
    black = np.zeros((4096, 4096, 3), np.uint8)
    bomb = frames_message(black[None].repeat(3, axis=0), pb.FRAME_ENCODING_PNG)  # ~150 KB
    errors = []
    cpu, memory = _cpu_and_peak_memory(lambda: errors.append(_push_error(stub, bomb)))
    assert errors[0].code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "more than 33554432 pixels" in errors[0].details()
    assert cpu < 5.0 and memory < 400  # three pictures of 48 MiB each decoded, one at a time


def test_a_video_of_pictures_wider_than_the_limit_is_refused_from_its_header(client):
    video = encode_mp4_bytes(np.zeros((2, 8, 4104, 3), np.uint8), fps=16)
    error = _error(lambda: list(client.extend(video, num_frames=1)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "its pictures are 4104x8; accepted: at most 4096" in error.details()


def test_a_video_past_the_job_frame_or_pixel_limit_is_refused(tiny_engine, clip):
    video = encode_mp4_bytes(clip, fps=16)  # 17 frames of 32x32
    limits = Limits(job_pixels=10 * 32 * 32)
    small = _start(tiny_engine, limits=limits)
    try:
        with StreamClient(small.target) as client:
            error = _error(lambda: list(client.extend(video, num_frames=1)))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "more than 10240 pixels" in error.details()
    finally:
        small.stop()
    small = _start(tiny_engine, limits=Limits(job_frames=8))
    try:
        with StreamClient(small.target) as client:
            error = _error(lambda: list(client.extend(video, num_frames=1)))
            assert "video: more than 8 frames" in error.details()
    finally:
        small.stop()


def test_an_sdp_file_is_not_probed(client):
    sdp = (
        b"v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=x\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
        b"m=video 5004 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
    )
    started = time.monotonic()
    error = _error(lambda: list(client.extend(sdp, num_frames=1)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "expected a video file in one of: mov, matroska" in error.details()
    assert time.monotonic() - started < 2.0


def test_an_extension_longer_than_the_limit_is_refused(client, clip):
    for length in ({"num_frames": 2**32 - 1}, {"seconds": 1e9}):
        error = _error(lambda length=length: list(client.extend(clip[:1], **length)))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "--max-generated-frames" in error.details()


def test_guidance_beyond_its_documented_range_is_refused(client):
    error = _error(lambda: client.session(guidance=1e10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"config.guidance=10000000000.0 is out of range; accepted: 0 to {MAX_GUIDANCE:g}" in (
        error.details()
    )


def test_a_long_anchor_name_comes_back_cut_short(client):
    error = _error(lambda: client.session(anchor="x" * 20_000))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "(20000 characters) is not an anchor mode" in error.details()
    assert len(error.details()) < 400


def test_image_frames_of_a_job_are_decoded_off_the_event_loop(tiny_engine):
    limits = Limits(pixels_per_message=2**28)
    roomy = _start(tiny_engine, limits=limits)
    black = np.zeros((4096, 4096, 3), np.uint8)
    frames = frames_message(black[None].repeat(8, axis=0), pb.FRAME_ENCODING_PNG)
    request = pb.ExtendRequest(frames=frames, num_frames=1)
    started = time.monotonic()
    for frame in frames.items:
        frame_to_array(frame, "frames")
    decoding = time.monotonic() - started  # what a call on the event loop would wait behind
    slowest = 0.0
    try:
        with StreamClient(roomy.target) as client, grpc.insecure_channel(roomy.target) as channel:
            job = channel.unary_stream(
                SERVICE + "Extend",
                request_serializer=pb.ExtendRequest.SerializeToString,
                response_deserializer=pb.ExtendResponse.FromString,
            )
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                running = pool.submit(lambda: list(job(request, timeout=120)))
                while not running.done():
                    started = time.monotonic()
                    assert client.health() == "SERVING"
                    slowest = max(slowest, time.monotonic() - started)
                running.result()
    finally:
        roomy.stop()
    # Relative to this machine's decoding time (1.5 s on an idle 2-core CPU), not a fixed bound:
    # under load a health call can wait half a second for the interpreter lock alone.
    assert slowest < 0.5 * decoding


# Right status codes


@pytest.mark.parametrize("method", ["Session", "Extend", "ResumeExtend", "GetModelInfo"])
def test_undecodable_request_bytes_are_invalid_argument(channel, method):
    assert raw_call(channel, method, b"\xff\xff\xff\xff") == grpc.StatusCode.INVALID_ARGUMENT


def test_an_unauthenticated_request_is_refused_before_it_is_parsed(tiny_engine):
    guarded = _start(tiny_engine, token=TOKEN)
    try:
        options = [("grpc.max_send_message_length", 64 * 2**20)]
        with grpc.insecure_channel(guarded.target, options) as channel:
            # Undecodable bytes would be INVALID_ARGUMENT if they were parsed first.
            assert raw_call(channel, "Extend", b"\xff" * 8) == grpc.StatusCode.UNAUTHENTICATED
            started = time.monotonic()
            large = b"\xff" * (60 * 2**20)
            assert raw_call(channel, "GetModelInfo", large) == grpc.StatusCode.UNAUTHENTICATED
            assert time.monotonic() - started < 5.0
    finally:
        guarded.stop()


def test_a_session_that_sends_no_config_is_invalid_argument(server):
    with grpc.insecure_channel(server.target) as channel:
        call = channel.stream_stream(SERVICE + "Session")
        error = _error(lambda: list(call(iter([]), timeout=30)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "the session ended without one" in error.details()


def test_an_idle_session_is_ended_and_frees_its_slot(tiny_engine, clip):
    strict = _start(tiny_engine, max_sessions=1, limits=Limits(idle_seconds=0.5))
    try:
        with StreamClient(strict.target) as client:
            live = client.session()
            live.push(clip[:1])
            error = _error(lambda: next(live.events()))
            assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "--idle-seconds" in error.details()
            _wait_for_free_slots(strict)
    finally:
        strict.stop()


def test_a_call_past_the_time_limit_is_ended_within_a_chunk(tiny_engine, clip):
    strict = _start(tiny_engine, limits=Limits(call_seconds=1.0))
    try:
        with StreamClient(strict.target) as client:
            started = time.monotonic()
            error = _error(lambda: list(client.extend(clip, num_frames=DEFAULT_GENERATED_FRAMES)))
            assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert time.monotonic() - started < 5.0
            _wait_for_free_slots(strict)
    finally:
        strict.stop()


# Cancellation that stops work


def test_a_cancel_storm_leaves_no_slot_held_and_no_work_running(server, client, tiny_engine):
    """20 sessions each push a full message of frames and are cancelled at once; a slot counts
    as free only once its push has stopped, and an honest session then runs at once."""
    frames = np.zeros((256, 1, 1, 3), np.uint8)
    batcher = tiny_engine.batcher
    for _ in range(20):
        try:
            live = client.session()
        except grpc.RpcError as error:  # both slots still stopping: the server says so
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            continue
        live.send_frames(frames)
        time.sleep(0.02)
        live.cancel()
    deadline = time.monotonic() + 10.0
    while held := server.server.service.slots.active:
        assert time.monotonic() < deadline, "a slot was never freed"
        assert batcher.active_sessions <= held  # read after: work only stops in the meantime
        time.sleep(0.001)
    assert batcher.active_sessions == 0  # freed slots hold no engine work
    started = time.monotonic()
    with client.session() as live:
        live.push(np.zeros((5, 8, 8, 3), np.uint8))
        list(live.extend(4))
    assert time.monotonic() - started < 10.0


def test_shutdown_reports_not_serving_refuses_new_sessions_then_cancels(tiny_engine, clip):
    draining = _start(tiny_engine)
    with StreamClient(draining.target) as client:
        live = client.session()
        live.push(clip[:1])
        stopper = threading.Thread(target=draining.stop, args=(1.0,), daemon=True)
        started = time.monotonic()
        stopper.start()
        time.sleep(0.3)
        assert client.health() == "NOT_SERVING"
        refused = _error(lambda: client.session())
        assert refused.code() == grpc.StatusCode.UNAVAILABLE
        stopper.join(timeout=15)
        assert not stopper.is_alive()
        assert 1.0 <= time.monotonic() - started < 6.0  # the 1 s grace, then the cancel
        assert _error(lambda: live.push(clip[:1])).code() in (
            grpc.StatusCode.CANCELLED,
            grpc.StatusCode.UNAVAILABLE,
        )


def _resident_mib() -> float:
    """This process's resident memory now (ru_maxrss only ever grows)."""
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_a_slow_reader_holds_generation_back_and_server_memory_stays_bounded(tiny_engine, clip):
    """A job of 2000 frames of 512x512 (1.5 GB if made ahead) read one chunk and then not at
    all: generation stops once the prefetch queue and the transport's windows are full."""
    slow = _start(tiny_engine)
    batcher = tiny_engine.batcher
    try:
        with StreamClient(slow.target) as client:
            job = client.extend(clip, num_frames=2000, output_size=(512, 512))
            next(iter(job))  # the programs are compiled by now, and the session open
            before, first = _resident_mib(), batcher.ticks
            ticks, still_since = first, time.monotonic()
            deadline = still_since + 30.0
            while time.monotonic() - still_since < 1.5:  # until generation stalls
                assert time.monotonic() < deadline, "generation never stopped for the reader"
                time.sleep(0.25)
                if batcher.ticks != ticks:
                    ticks, still_since = batcher.ticks, time.monotonic()
            grown = _resident_mib() - before
            job.cancel()
    finally:
        slow.stop()
    assert ticks - first < 2000 / 8 / 4  # a few dozen of the job's 250 chunks at most
    assert grown < 200  # a few chunks of 6 MiB queued, not the job's 1.5 GB


def test_sigterm_drains_a_real_server_process(serve_process, clip):
    """SIGTERM: health NOT_SERVING while still listening, then exit within the grace period
    plus a few seconds, a running session cancelled."""
    port = free_port()
    process = serve_process(port, "--grace-seconds", "2", "--job-store", "")
    with StreamClient(f"127.0.0.1:{port}") as client:
        client.wait_until_serving(timeout=300)
        live = client.session()
        live.push(clip[:1])
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert client.health() == "NOT_SERVING"
        assert process.wait(timeout=2 + 8) == 0
        assert time.monotonic() - started >= 2.0  # the running session had its grace period
        live.cancel()


# Operable


def test_metrics_are_scraped_over_http(server, client, clip):
    with client.session() as live:
        live.push(clip)
        list(live.extend(8))
    port = server.server.metrics_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    for line in (
        'stream_calls_total{code="OK",method="Session"}',
        "stream_chunk_latency_seconds_count",
        "stream_frames_generated_total",
        'stream_slots{state="free"} 2.0',
        'stream_calls_running{kind="session"} 0.0',
        "stream_batcher_queue_depth",
        "stream_batcher_ticks_total",
    ):
        assert line in text
    assert 'stream_calls_total{code="INVALID_ARGUMENT"' in text  # earlier tests' refusals


def test_every_call_logs_one_line_with_its_request_id(stub, caplog):
    caplog.set_level("INFO", logger="serve.access")
    _, call = stub.GetModelInfo.with_call(
        pb.GetModelInfoRequest(), metadata=(("x-request-id", "req-42"),), timeout=10
    )
    assert ("x-request-id", "req-42") in call.trailing_metadata()
    _, call = stub.GetModelInfo.with_call(pb.GetModelInfoRequest(), timeout=10)
    made_up = dict(call.trailing_metadata())["x-request-id"]
    lines = [record.getMessage() for record in caplog.records if record.name == "serve.access"]
    assert [line.split()[0] for line in lines] == ["request_id=req-42", f"request_id={made_up}"]
    assert all("method=GetModelInfo code=OK" in line for line in lines)


# Fuzz (the generators live in lab/fuzz.py, shared with `stream soak --fuzz`)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(requests=SESSION_REQUESTS)
def test_fuzzed_sessions_answer_only_expected_codes(stub, requests):
    assert session_code(stub, requests) in EXPECTED_CODES


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=JOBS)
def test_fuzzed_jobs_answer_only_expected_codes(stub, request):
    assert job_code(stub, request) in EXPECTED_CODES


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=RESUMES)
def test_fuzzed_resumes_answer_only_expected_codes(stub, request):
    assert resume_code(stub, request) in EXPECTED_CODES


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(call=RAW)
def test_fuzzed_bytes_answer_only_expected_codes(channel, call):
    assert raw_call(channel, *call) in EXPECTED_CODES
