"""What an operator reads off a running server: sessions and jobs by state in the metrics, and
the log as JSON lines (`stream serve --log-format json`)."""

from __future__ import annotations

import datetime
import io
import json
import logging
import re
import subprocess
import sys
import time

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from serve.access_log import request_id
from serve.background import BackgroundServer
from serve.client import StreamClient
from serve.job_store import JobStore
from serve.log_format import log_handler
from serve.settings import ServerSettings
from serve.wire import stream_pb2 as pb
from serve.wire import stream_pb2_grpc

LONG_JOB_FRAMES = 4000  # hundreds of chunks: still running while a test looks at it


@pytest.fixture
def server(tiny_engine, tmp_path):
    settings = ServerSettings(port=0, job_store=tmp_path / "jobs")
    with BackgroundServer(tiny_engine, settings, warm=False) as running:
        yield running


@pytest.fixture
def client(server):
    with StreamClient(server.target) as connected:
        yield connected


def _states(server: BackgroundServer, name: str) -> dict[str, float]:
    """The gauge `name` by its state label, as a scrape reads it."""
    for family in text_string_to_metric_families(server.server.metrics.text()):
        if family.name == name:
            return {sample.labels["state"]: sample.value for sample in family.samples}
    raise AssertionError(f"{name} is not exported")


def _eventually(server: BackgroundServer, name: str, expected: dict[str, float]) -> None:
    """The gauge reads `expected` within a few seconds (a call's end reaches the server a moment
    after the client has its last message)."""
    deadline = time.monotonic() + 10.0
    while (states := _states(server, name)) != expected:
        assert time.monotonic() < deadline, f"{name}: {states}, expected {expected}"
        time.sleep(0.01)


def _jobs(running: int = 0, resumable: int = 0, complete: int = 0, expired: int = 0) -> dict:
    return {"running": running, "resumable": resumable, "complete": complete, "expired": expired}


def _sessions(waiting: int = 0, pushing: int = 0, generating: int = 0) -> dict:
    return {"waiting": waiting, "pushing": pushing, "generating": generating}


# Jobs by state


def test_a_finished_extend_job_counts_as_complete(server, client, clip):
    _eventually(server, "stream_jobs", _jobs())
    list(client.extend(clip[:1], num_frames=8))
    _eventually(server, "stream_jobs", _jobs(complete=1))


def test_a_running_job_counts_as_running_and_not_as_stored(server, client, clip):
    job = client.extend(clip[:1], num_frames=LONG_JOB_FRAMES)
    next(iter(job))
    try:
        _eventually(server, "stream_jobs", _jobs(running=1))
    finally:
        job.cancel()


def test_a_job_whose_stream_was_lost_counts_as_resumable(server, client, clip):
    job = client.extend(clip[:1], num_frames=LONG_JOB_FRAMES)
    next(iter(job))
    job.cancel()
    _eventually(server, "stream_jobs", _jobs(resumable=1))


def test_a_job_without_progress_for_the_ttl_counts_as_expired(tmp_path):
    store = JobStore(tmp_path, ttl_seconds=0.5, max_bytes=2**20)
    store.create(pb.ExtendRequest(num_frames=8), "model", 8)
    assert store.census() == {"resumable": 1, "complete": 0, "expired": 0}
    time.sleep(0.6)
    assert store.census() == {"resumable": 0, "complete": 0, "expired": 1}


def test_jobs_in_the_folder_are_counted_when_the_store_opens(tmp_path):
    earlier = JobStore(tmp_path, ttl_seconds=60.0, max_bytes=2**20)
    earlier.create(pb.ExtendRequest(num_frames=8), "model", 8)
    finished = earlier.create(pb.ExtendRequest(num_frames=8), "model", 8)
    earlier.progress(finished, 8)
    reopened = JobStore(tmp_path, ttl_seconds=60.0, max_bytes=2**20)
    assert reopened.census() == {"resumable": 1, "complete": 1, "expired": 0}


def test_jobs_another_server_stored_or_removed_are_counted_once_this_one_stores_a_job(tmp_path):
    request = pb.ExtendRequest(num_frames=8)
    this, other = (JobStore(tmp_path, ttl_seconds=60.0, max_bytes=2**20) for _ in range(2))
    theirs = other.create(request, "model", 8)
    this.create(request, "model", 8)
    assert this.census()["resumable"] == 2
    other.remove(theirs)
    this.create(request, "model", 8)
    assert this.census()["resumable"] == 2


# Sessions by state


def test_a_session_between_requests_counts_as_waiting(server, client, clip):
    with client.session() as live:
        live.push(clip[:1])
        _eventually(server, "stream_sessions", _sessions(waiting=1))
    _eventually(server, "stream_sessions", _sessions())


def test_a_session_sending_chunks_counts_as_generating(server, client, clip):
    live = client.session()
    live.push(clip[:1])
    next(live.extend(LONG_JOB_FRAMES))
    try:
        _eventually(server, "stream_sessions", _sessions(generating=1))
    finally:
        live.cancel()


# Logs


def _text_access_line(server, metadata) -> tuple[str, dict[str, str]]:
    """The text access line of one GetModelInfo call sending metadata, and the trailing
    metadata it got back."""
    lines = io.StringIO()
    handler = log_handler("text", lines)
    access = logging.getLogger("serve.access")
    level = access.level
    access.setLevel(logging.INFO)
    access.addHandler(handler)
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = stream_pb2_grpc.VideoStreamStub(channel)
            _, call = stub.GetModelInfo.with_call(
                pb.GetModelInfoRequest(), metadata=metadata, timeout=10
            )
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    [line] = lines.getvalue().splitlines()
    return line, dict(call.trailing_metadata())


def test_a_request_id_with_spaces_adds_no_field_to_the_text_access_line(server):
    forged = "x method=Forged code=OK seconds=0 peer=trusted"
    line, trailing = _text_access_line(server, (("x-request-id", forged),))
    keys = [pair.split("=", 1)[0] for pair in line.removeprefix("stream serve: ").split(" ")]
    assert keys == ["request_id", "method", "code", "seconds", "peer"]
    assert "Forged" not in line and forged not in trailing.values()
    assert f"request_id={trailing['x-request-id']} method=GetModelInfo code=OK" in line


def test_a_request_id_with_a_line_break_or_an_equals_sign_is_replaced():
    made_up = {
        request_id([("x-request-id", sent)])
        for sent in ("a\nrequest_id=b method=Forged", "a=b", "a\tb", "é", "x" * 65, "")
    }
    assert len(made_up) == 6 and all(re.fullmatch("[0-9a-f]{32}", rid) for rid in made_up)


def test_a_request_id_of_trace_id_characters_is_kept():
    for sent in ("req-42", "4bf92f35-77b3-4da6-a3ce-929d0e0e4736", "svc/a.b:1+2@z_0", "x" * 64):
        assert request_id([("x-request-id", sent)]) == sent


def test_a_json_access_line_parses_and_carries_the_request_id_the_client_sent(server, caplog):
    caplog.set_level("INFO", logger="serve.access")
    lines = io.StringIO()
    handler = log_handler("json", lines)
    logging.getLogger("serve.access").addHandler(handler)
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = stream_pb2_grpc.VideoStreamStub(channel)
            metadata = (("x-request-id", "req-json-7"),)
            stub.GetModelInfo(pb.GetModelInfoRequest(), metadata=metadata, timeout=10)
    finally:
        logging.getLogger("serve.access").removeHandler(handler)
    [line] = lines.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["request_id"] == "req-json-7"
    assert (entry["logger"], entry["level"]) == ("serve.access", "INFO")
    assert (entry["method"], entry["code"]) == ("GetModelInfo", "OK")
    assert entry["seconds"] >= 0 and entry["peer"].startswith("ipv4:127.0.0.1:")
    logged = datetime.datetime.fromisoformat(entry["time"])
    assert logged.utcoffset() == datetime.timedelta(0)
    assert abs(datetime.datetime.now(datetime.UTC) - logged) < datetime.timedelta(minutes=1)


def test_stream_serve_with_log_format_json_writes_its_errors_as_json_lines():
    main = "import sys; from cli import main; sys.exit(main(sys.argv[1:]))"
    argv = [sys.executable, "-c", main, "serve", "--log-format", "json", "--tls-cert", "c.pem"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    entry = json.loads(line)
    assert (entry["level"], entry["logger"]) == ("ERROR", "serve.serve_command")
    assert "--tls-cert and --tls-key go together" in entry["message"]
