"""Bounds of the server: sessions at once, cancelled sessions, work ahead of a slow reader."""

from __future__ import annotations

import asyncio
import itertools
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from serve.background import BackgroundServer
from serve.client import StreamClient
from serve.concurrency import Prefetch
from serve.limits import DEFAULT_GENERATED_FRAMES
from serve.settings import ServerSettings
from serve.wire import stream_pb2 as pb
from serve.wire import stream_pb2_grpc


@pytest.fixture(scope="module")
def one_slot_server(tiny_engine):
    settings = ServerSettings(port=0, max_sessions=1)
    with BackgroundServer(tiny_engine, settings, warm=False) as running:
        yield running


@pytest.fixture(scope="module")
def client(one_slot_server):
    with StreamClient(one_slot_server.target) as connected:
        yield connected


def _wait_for_free_slots(server: BackgroundServer, timeout: float = 10.0) -> float:
    """Seconds until the server has no session open (polled; the server frees slots itself)."""
    started = time.monotonic()
    while server.server.service.slots.active:
        assert time.monotonic() - started < timeout, "the slot was not freed"
        time.sleep(0.01)
    return time.monotonic() - started


def test_full_server_answers_resource_exhausted(one_slot_server, client, clip):
    with client.session() as holder:
        holder.push(clip[:1])
        with pytest.raises(grpc.RpcError) as session_refused:
            client.session()
        with pytest.raises(grpc.RpcError) as job_refused:
            list(client.extend(clip, num_frames=1))
    for refused in (session_refused, job_refused):
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--max-sessions" in refused.value.details()


def test_cancelled_session_frees_its_slot_at_once(one_slot_server, client, clip):
    live = client.session()
    live.push(clip)
    live.request_extension(DEFAULT_GENERATED_FRAMES)  # minutes of work, if the cancel went unseen
    next(live.events())
    live.cancel()
    assert _wait_for_free_slots(one_slot_server) < 5.0
    with client.session() as again:
        assert again.push(clip[:1]).frames_pushed == 1


def test_a_session_reopened_right_after_a_cancel_on_a_full_server_is_admitted(
    one_slot_server, client, clip
):
    for _ in range(5):
        live = client.session()
        live.push(clip)
        live.request_extension(DEFAULT_GENERATED_FRAMES)  # a chunk is always in progress
        next(live.events())
        live.cancel()
        with client.session() as again:  # no wait: the cancelled one may still be stopping
            assert again.push(clip[:1]).frames_pushed == 1
    _wait_for_free_slots(one_slot_server)
    assert one_slot_server.server.service.slots.stopping == 0


def test_a_full_server_still_refuses_at_once_when_no_call_is_stopping(
    one_slot_server, client, clip
):
    with client.session() as holder:
        holder.push(clip[:1])
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as refused:
            client.session()
        assert time.monotonic() - started < 1.0
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


MIB = 2**20


@pytest.fixture(scope="module")
def one_mib_server(tiny_engine):
    settings = ServerSettings(port=0, max_message_bytes=MIB)
    with BackgroundServer(tiny_engine, settings, warm=False) as running:
        yield running


def _raw_channel(server: BackgroundServer) -> grpc.Channel:
    """A channel that sends messages of any size, as a client that ignores ModelInfo would."""
    return grpc.insecure_channel(server.target, options=[("grpc.max_send_message_length", -1)])


def test_a_job_over_the_max_message_size_is_invalid_argument_naming_the_limit(one_mib_server):
    request = pb.ExtendRequest(video=bytes(MIB + MIB // 2), num_frames=1)
    with _raw_channel(one_mib_server) as channel:
        job = stream_pb2_grpc.VideoStreamStub(channel).Extend(request, timeout=30)
        with pytest.raises(grpc.RpcError) as refused:
            list(job)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"more than the server's max message size of {MIB} bytes" in refused.value.details()
    assert "--max-message-mib" in refused.value.details()


def test_a_session_message_over_the_max_message_size_is_invalid_argument(one_mib_server):
    frames = pb.Frames(items=[pb.Frame(data=bytes(MIB + 1))])
    requests = [pb.SessionRequest(config=pb.SessionConfig()), pb.SessionRequest(frames=frames)]
    with _raw_channel(one_mib_server) as channel:
        session = stream_pb2_grpc.VideoStreamStub(channel).Session(iter(requests), timeout=30)
        with pytest.raises(grpc.RpcError) as refused:
            list(session)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "--max-message-mib" in refused.value.details()


def test_a_message_over_twice_the_max_message_size_is_refused_unread(one_mib_server):
    request = pb.ExtendRequest(video=bytes(2 * MIB + 1), num_frames=1)
    with _raw_channel(one_mib_server) as channel:
        job = stream_pb2_grpc.VideoStreamStub(channel).Extend(request, timeout=30)
        with pytest.raises(grpc.RpcError) as refused:
            list(job)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_prefetch_runs_at_most_its_depth_ahead_of_a_stalled_reader():
    pulled = itertools.count()

    def numbers():
        while True:
            yield next(pulled)

    async def read_one_then_stall() -> None:
        with ThreadPoolExecutor(1) as pool:
            async with Prefetch(pool, numbers(), depth=2) as ahead:
                assert await anext(ahead) == 0
                await asyncio.sleep(0.3)  # a reader that stopped reading

    asyncio.run(read_one_then_stall())
    # Item 0 was read, 2 wait in the queue and 1 waits to be put: nothing more was made.
    assert next(pulled) <= 4
