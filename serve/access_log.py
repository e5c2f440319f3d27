"""One log line per call, with a request id, and the call counted by its status code.

The request id is the caller's `x-request-id` metadata when it sends a usable one (at most
ECHO_CHARS of the characters REQUEST_ID_CHARS allows) or one made up here; either way it comes
back in the call's trailing metadata, so a client can quote it and an operator find the line.
Lines go to the `serve.access` logger, with each value also passed as a field of its own
(`extra=`): `stream serve` prints them on stderr, as text or, with --log-format json, JSON
(serve/log_format.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any

import grpc

from serve.handlers import ServiceInterceptor, behavior_of, rebuilt
from serve.limits import ECHO_CHARS
from serve.metrics import ServerMetrics

REQUEST_ID_KEY = "x-request-id"
# Letters, digits and the punctuation of UUIDs, trace ids and paths, but no space, `=`, quote or
# line break: the text access line is `key=value` pairs split at spaces, and a caller's id must not
# add a pair or a line to it.
REQUEST_ID_CHARS = "A-Za-z0-9._:/+@-"
_USABLE_ID = re.compile(f"[{REQUEST_ID_CHARS}]{{1,{ECHO_CHARS}}}")
logger = logging.getLogger("serve.access")


def request_id(metadata: Any) -> str:
    """The caller's request id if usable, else a new one."""
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and _USABLE_ID.fullmatch(value):
            return value
    return uuid.uuid4().hex


class AccessLogInterceptor(ServiceInterceptor):
    """Put it first, so that it also sees the calls later interceptors refuse."""

    def __init__(self, prefix: str, metrics: ServerMetrics):
        super().__init__(prefix)
        self._metrics = metrics

    def wrap(
        self, handler: grpc.RpcMethodHandler, method: str, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        inner = behavior_of(handler)
        rid = request_id(details.invocation_metadata)

        async def logged(request: Any, context: grpc.aio.ServicerContext) -> Any:
            context.set_trailing_metadata(((REQUEST_ID_KEY, rid),))
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return await inner(request, context)
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception:
                code = grpc.StatusCode.UNKNOWN
                raise
            finally:
                self._metrics.call_ended(method, code.name)
                seconds, peer = time.perf_counter() - started, context.peer()
                logger.info(
                    "request_id=%s method=%s code=%s seconds=%.3f peer=%s",
                    rid,
                    method,
                    code.name,
                    seconds,
                    peer,
                    extra={
                        "request_id": rid,
                        "method": method,
                        "code": code.name,
                        "seconds": round(seconds, 6),
                        "peer": peer,
                    },
                )

        return rebuilt(handler, logged)
