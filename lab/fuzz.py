"""Fuzzed requests to every VideoStream RPC, and what a well-behaved server may answer them:
used by the fault suite (tests/test_serve_faults.py, a few hundred cases) and `stream soak
--fuzz COUNT` (the long run).

Requests are hypothesis strategies: well-formed messages with values out of every range, and raw
bytes that may not parse. A server passes when every answer is one of EXPECTED_CODES and no OK
answer carries a NaN; UNKNOWN or INTERNAL mean a bug.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import grpc
from google.protobuf.message import Message
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from serve.wire import stream_pb2 as pb
from serve.wire import stream_pb2_grpc

SERVICE = "/stream.v1.VideoStream/"
METHODS = ("Session", "Extend", "ResumeExtend", "GetModelInfo")
EXPECTED_CODES = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,  # a job to resume that the store does not hold
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
_CALL_SECONDS = 60.0

CONFIGS = st.builds(
    pb.SessionConfig,
    anchor=st.sampled_from(["", "none", "both", "guidance", "x" * 100]),
    seed=st.integers(0, 2**64 - 1),
    steps=st.integers(0, 80),
    window_latent_frames=st.integers(0, 8),
    guidance=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    output_width=st.integers(0, 5000),
    output_height=st.integers(0, 5000),
    output_encoding=st.integers(0, 5),
    source_fps=st.floats(allow_nan=True, allow_infinity=True),
)
FRAMES = st.builds(
    lambda n, width, height, extra: pb.Frames(
        items=[pb.Frame(width=width, height=height, data=bytes(width * height * 3 + extra))] * n
    ),
    st.integers(0, 3),
    st.integers(0, 6),
    st.integers(0, 6),
    st.sampled_from([0, 0, 1]),
)
SESSION_REQUESTS = st.lists(
    st.one_of(
        st.builds(pb.SessionRequest, config=CONFIGS),
        st.builds(pb.SessionRequest, frames=FRAMES),
        st.builds(
            lambda n: pb.SessionRequest(extend=pb.ExtendCommand(num_frames=n)),
            st.integers(0, 9),
        ),
        st.just(pb.SessionRequest()),
    ),
    max_size=4,
)
JOBS = st.builds(
    lambda frames, video, num_frames, seconds, config: pb.ExtendRequest(
        frames=frames, video=video, num_frames=num_frames, seconds=seconds, config=config
    ),
    st.one_of(st.none(), FRAMES),
    st.one_of(st.none(), st.binary(max_size=64)),
    st.one_of(st.none(), st.integers(0, 9), st.integers(2**20, 2**32 - 1)),
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    st.one_of(st.none(), CONFIGS),
)
RESUMES = st.builds(
    pb.ResumeExtendRequest,
    job_id=st.one_of(st.text(max_size=40), st.text("0123456789abcdef", min_size=32, max_size=32)),
    from_frame=st.integers(0, 2**64 - 1),
)
RAW = st.tuples(st.sampled_from(METHODS), st.binary(max_size=200))


def finite_everywhere(message: Message) -> bool:
    """No NaN in any float of a response (an OK answer must not carry one)."""
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        for item in values:
            if isinstance(item, float) and math.isnan(item):
                return False
            if hasattr(item, "ListFields") and not finite_everywhere(item):
                return False
    return True


def code_of(responses: object) -> grpc.StatusCode:
    """The final status of a streaming call; UNKNOWN when an OK answer carried a NaN."""
    try:
        for response in responses:
            if not finite_everywhere(response):
                return grpc.StatusCode.UNKNOWN
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def raw_call(channel: grpc.Channel, method: str, data: bytes, **options: object) -> grpc.StatusCode:
    """Sends bytes as they are (no serializer) to a method; the call's final status code."""
    try:
        if method == "Session":
            call = channel.stream_stream(SERVICE + method)
            list(call(iter([data]), timeout=_CALL_SECONDS, **options))
        elif method in ("Extend", "ResumeExtend"):
            list(channel.unary_stream(SERVICE + method)(data, timeout=_CALL_SECONDS, **options))
        else:
            channel.unary_unary(SERVICE + method)(data, timeout=_CALL_SECONDS, **options)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def session_code(stub: stream_pb2_grpc.VideoStreamStub, requests: list) -> grpc.StatusCode:
    return code_of(stub.Session(iter(requests), timeout=_CALL_SECONDS))


def job_code(stub: stream_pb2_grpc.VideoStreamStub, request: pb.ExtendRequest) -> grpc.StatusCode:
    return code_of(stub.Extend(request, timeout=_CALL_SECONDS))


def resume_code(
    stub: stream_pb2_grpc.VideoStreamStub, request: pb.ResumeExtendRequest
) -> grpc.StatusCode:
    return code_of(stub.ResumeExtend(request, timeout=_CALL_SECONDS))


FUZZ_BATCH = 500


def fuzz(channel: grpc.Channel, count: int, record: Callable[[str, grpc.StatusCode], None]) -> None:
    """Sends `count` fuzzed calls of four kinds (live sessions, jobs, resumes, raw bytes to any
    method) as hypothesis draws them, calling record(kind, final status code) after each."""
    stub = stream_pb2_grpc.VideoStreamStub(channel)
    cases = st.one_of(
        st.tuples(st.just("session"), SESSION_REQUESTS),
        st.tuples(st.just("job"), JOBS),
        st.tuples(st.just("resume"), RESUMES),
        st.tuples(st.just("raw"), RAW),
    )
    run = {
        "session": lambda case: session_code(stub, case),
        "job": lambda case: job_code(stub, case),
        "resume": lambda case: resume_code(stub, case),
        "raw": lambda case: raw_call(channel, *case),
    }

    def batch(size: int) -> None:
        # Only generation: every answer is recorded, none fails, so there is nothing to shrink,
        # and no example database is written.
        @settings(
            max_examples=size,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases)
        def one(case: tuple[str, object]) -> None:
            kind, body = case
            record(kind, run[kind](body))

        one()

    # Hypothesis keeps every example of a run to avoid repeats: 10,000 in one run grew the
    # soak to 10 GB, so long fuzzing runs in batches of a bounded size.
    for start in range(0, count, FUZZ_BATCH):
        batch(min(FUZZ_BATCH, count - start))
