"""Request bytes that do not parse as the method's message, or that are more than the server's
max message size, are INVALID_ARGUMENT, not UNKNOWN or RESOURCE_EXHAUSTED.

gRPC answers a request its deserializer cannot parse with UNKNOWN and logs a traceback per call,
so a client sending garbage learns nothing and fills the log; and it answers a message over its
transport limit with RESOURCE_EXHAUSTED, which reads as a full server. This interceptor parses
with a deserializer that never raises: bytes over max_bytes, or that do not parse, become an
Undecodable marker, which the call's behaviour answers with INVALID_ARGUMENT saying what it
accepts (for a stream of requests, as a ValueError from its iterator, which the service maps like
any bad input). The server sets the transport's own limit above max_bytes (serve/server.py), so
that messages a little over it get here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from serve.handlers import ServiceInterceptor, behavior_of, rebuilt


class Undecodable:
    def __init__(self, error: str):
        self.error = error  # what was wrong and what is accepted


class UndecodableRequestInterceptor(ServiceInterceptor):
    def __init__(self, prefix: str, request_types: dict[str, type], max_bytes: int):
        super().__init__(prefix)
        self._request_types = request_types  # method name -> its request message class
        self._max_bytes = max_bytes

    def wrap(
        self, handler: grpc.RpcMethodHandler, method: str, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        message = self._request_types[method]
        expected = f"a serialized {message.DESCRIPTOR.full_name}"
        inner = behavior_of(handler)

        max_bytes = self._max_bytes

        def parse(data: bytes) -> Any:
            if len(data) > max_bytes:
                return Undecodable(
                    f"request: {len(data)} bytes, more than the server's max message size of "
                    f"{max_bytes} bytes; accepted: at most {max_bytes} bytes (the server's "
                    "--max-message-mib)"
                )
            try:
                return message.FromString(data)
            except DecodeError as error:
                return Undecodable(
                    f"request: cannot parse {len(data)} bytes ({error}); accepted: {expected}"
                )

        if handler.request_streaming:

            async def checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
                async for request in requests:
                    if isinstance(request, Undecodable):
                        raise ValueError(request.error)
                    yield request

            async def streamed(requests: AsyncIterator[Any], context: Any) -> Any:
                return await inner(checked(requests), context)

            return rebuilt(handler, streamed, parse)

        async def single(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, Undecodable):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.error)
            return await inner(request, context)

        return rebuilt(handler, single, parse)
