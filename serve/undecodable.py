"""Request bytes that do not parse as the method's message are INVALID_ARGUMENT, not UNKNOWN.

gRPC answers a request its deserializer cannot parse with UNKNOWN and logs a traceback per call,
so a client sending garbage learns nothing and fills the log. This interceptor parses with a
deserializer that never raises: bytes that do not parse become an Undecodable marker, which the
call's behaviour answers with INVALID_ARGUMENT naming the message it expected (for a stream of
requests, as a ValueError from its iterator, which the service maps like any bad input).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from serve.handlers import ServiceInterceptor, behavior_of, rebuilt


class Undecodable:
    def __init__(self, size: int, reason: str):
        self.size = size
        self.reason = reason


class UndecodableRequestInterceptor(ServiceInterceptor):
    def __init__(self, prefix: str, request_types: dict[str, type]):
        super().__init__(prefix)
        self._request_types = request_types  # method name -> its request message class

    def wrap(
        self, handler: grpc.RpcMethodHandler, method: str, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        message = self._request_types[method]
        expected = f"a serialized {message.DESCRIPTOR.full_name}"
        inner = behavior_of(handler)

        def parse(data: bytes) -> Any:
            try:
                return message.FromString(data)
            except DecodeError as error:
                return Undecodable(len(data), str(error))

        def error(request: Undecodable) -> str:
            return (
                f"request: cannot parse {request.size} bytes ({request.reason}); accepted: "
                f"{expected}"
            )

        if handler.request_streaming:

            async def checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
                async for request in requests:
                    if isinstance(request, Undecodable):
                        raise ValueError(error(request))
                    yield request

            async def streamed(requests: AsyncIterator[Any], context: Any) -> Any:
                return await inner(checked(requests), context)

            return rebuilt(handler, streamed, parse)

        async def single(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if isinstance(request, Undecodable):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, error(request))
            return await inner(request, context)

        return rebuilt(handler, single, parse)
