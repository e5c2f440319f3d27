"""Resumable extension jobs: a job's frames, resumed from any frame, on a live server, on the
same server after SIGKILL and a restart, and on a second server sharing the job store."""

from __future__ import annotations

import os
import signal
import time

import grpc
import numpy as np
import pytest

from conftest import free_port
from serve.background import BackgroundServer
from serve.client import StreamClient
from serve.job_store import JobStore, UnknownJob
from serve.resuming_job import ResumingJob
from serve.settings import ServerSettings
from serve.wire import stream_pb2 as pb

pytestmark = pytest.mark.slow  # the edit-test loop leaves it out (README, Tests)

JOB_FRAMES = 40  # five chunks of 8 on the tiny model, the first cut short by the input's tail


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tmp_path_factory.mktemp("jobs")


@pytest.fixture(scope="module")
def server(tiny_engine, store):
    settings = ServerSettings(port=0, job_store=store)
    with BackgroundServer(tiny_engine, settings, warm=False) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    with StreamClient(server.target) as connected:
        yield connected


def _frames(job) -> np.ndarray:
    return np.concatenate([chunk.frames for chunk in job])


def _error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def test_a_job_resumed_from_any_frame_sends_exactly_the_frames_it_missed(client, clip):
    job = client.extend(clip[:15], num_frames=JOB_FRAMES, seed=4)
    chunks = list(job)
    whole = np.concatenate([chunk.frames for chunk in chunks])
    assert len(job.job_id) == 32 and len(whole) == JOB_FRAMES
    for start in (0, 3, 8, 21, JOB_FRAMES - 1):
        resumed = client.resume(job.job_id, start)
        rest = list(resumed)
        assert resumed.job_id == job.job_id
        np.testing.assert_array_equal(np.concatenate([c.frames for c in rest]), whole[start:])
        # Chunks carry the indices of the uninterrupted job's frames.
        assert rest[0].first_frame_index == chunks[0].first_frame_index + start
        assert rest[-1].last_of_request and resumed.summary.generated_frames == JOB_FRAMES
    finished = client.resume(job.job_id, JOB_FRAMES)  # the client lost only the summary
    assert list(finished) == [] and finished.summary.generated_frames == JOB_FRAMES


def test_resuming_what_the_store_does_not_hold_is_not_found_or_invalid(client, clip):
    error = _error(lambda: list(client.resume("0" * 32, 0)))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "no such job in the job store" in error.details()
    error = _error(lambda: list(client.resume("../../etc/passwd", 0)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "is not a job id; accepted: the 32 hexadecimal digits" in error.details()
    job = client.extend(clip[:1], num_frames=4)
    list(job)
    error = _error(lambda: list(client.resume(job.job_id, 5)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "from_frame=5 is out of range; accepted: 0 to 4" in error.details()


def test_a_job_whose_request_is_wrong_is_not_kept(client, store):
    before = set(store.iterdir())
    bad = pb.Frames(items=[pb.Frame(width=2, height=2, data=b"\x00")])
    stub_job = client.extend(np.zeros((1, 2, 2, 3), np.uint8), num_frames=4)
    list(stub_job)  # a good one is kept
    assert len(set(store.iterdir()) - before) == 1
    with grpc.insecure_channel(client.target) as channel:
        call = channel.unary_stream(
            "/stream.v1.VideoStream/Extend",
            request_serializer=pb.ExtendRequest.SerializeToString,
            response_deserializer=pb.ExtendResponse.FromString,
        )
        error = _error(lambda: list(call(pb.ExtendRequest(frames=bad, num_frames=4), timeout=30)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(set(store.iterdir()) - before) == 1


def test_jobs_expire_and_the_store_stays_within_its_size(tmp_path):
    request = pb.ExtendRequest(video=bytes(1000), num_frames=8)
    store = JobStore(tmp_path, ttl_seconds=60.0, max_bytes=2500)
    first = store.create(request, "model", 8)
    second = store.create(request, "model", 8)
    old = time.time() - 30
    os.utime(tmp_path / first / "job.json", (old, old))
    os.utime(tmp_path / first / "request.pb", (old, old))
    third = store.create(request, "model", 8)  # only two fit: the least recently active goes
    assert store.disk_bytes() <= 2500
    with pytest.raises(UnknownJob):
        store.load(first)
    assert store.load(second).request == request and store.load(third).model == "model"
    expired = time.time() - 61
    os.utime(tmp_path / second / "job.json", (expired, expired))
    with pytest.raises(UnknownJob, match="expired"):
        store.load(second)
    store.progress(third, 5)  # progress keeps a job alive
    assert time.time() - (tmp_path / third / "job.json").stat().st_mtime < 5


def _mode(path) -> int:
    return path.stat().st_mode & 0o777


def test_only_the_servers_user_can_list_the_store_or_read_a_job(tmp_path):
    previous = os.umask(0o022)  # what most machines run with
    try:
        (tmp_path / "existing").mkdir(0o755)
        for folder in (tmp_path / "new" / "jobs", tmp_path / "existing"):
            store = JobStore(folder, ttl_seconds=60.0, max_bytes=10_000)
            job_id = store.create(pb.ExtendRequest(video=bytes(10), num_frames=8), "model", 8)
            store.progress(job_id, 4)
            assert _mode(folder) == 0o700 and _mode(folder / job_id) == 0o700
            assert {_mode(path) for path in (folder / job_id).iterdir()} == {0o600}
            assert {path.name for path in (folder / job_id).iterdir()} == {"request.pb", "job.json"}
    finally:
        os.umask(previous)


# A real server process killed mid-job


def test_a_job_killed_mid_way_resumes_bitwise_on_a_restarted_and_on_a_second_server(
    serve_process, tmp_path, clip
):
    store = str(tmp_path / "jobs")
    port, other_port = free_port(), free_port()
    first = serve_process(port, "--job-store", store)
    with StreamClient(f"127.0.0.1:{port}") as client:
        client.wait_until_serving(timeout=300)
        # A second server on the same store, warming up from the first one's cache meanwhile.
        other_server = serve_process(other_port, "--job-store", store)
        resumed_at = []
        # Large frames, so that flow control keeps the server a few chunks ahead of the client.
        settings = {"num_frames": JOB_FRAMES * 4, "seed": 7, "output_size": (256, 256)}
        job = ResumingJob(
            client,
            client.extend(clip, **settings),
            patience_seconds=120,
            on_resume=resumed_at.append,
        )
        received, restarted = [], None
        for chunk in job:
            received.append(chunk.frames)
            if len(received) == 2:
                first.send_signal(signal.SIGKILL)  # mid-job, with chunks still to come
                first.wait()
                restarted = serve_process(port, "--job-store", store)
            if len(received) == 6:
                break  # the stream is lost again; a load balancer sends the client elsewhere
        assert len(resumed_at) == 1 and 0 < resumed_at[0] < JOB_FRAMES * 4
        restarted.send_signal(signal.SIGKILL)
    have = sum(len(frames) for frames in received)
    with StreamClient(f"127.0.0.1:{other_port}") as other:
        other.wait_until_serving(timeout=300)
        rest = other.resume(job.job_id, have)
        video = np.concatenate(received + [chunk.frames for chunk in rest])
        uninterrupted = _frames(other.extend(clip, **settings))
    other_server.send_signal(signal.SIGTERM)
    assert video.shape == uninterrupted.shape == (JOB_FRAMES * 4, 256, 256, 3)
    np.testing.assert_array_equal(video, uninterrupted)
