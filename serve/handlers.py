"""Method handlers rebuilt around their behaviour, for server interceptors that act on every call
of the service (parsing, logging) rather than on its metadata alone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

_FACTORIES = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}

Behavior = Callable[[Any, grpc.aio.ServicerContext], Any]


def behavior_of(handler: grpc.RpcMethodHandler) -> Behavior:
    """The coroutine function that serves the handler's calls."""
    return (
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    )


def rebuilt(
    handler: grpc.RpcMethodHandler,
    behavior: Behavior,
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> grpc.RpcMethodHandler:
    """A handler of the same kind and serializers as `handler`, serving calls with `behavior`
    (and parsing requests with request_deserializer, when given)."""
    factory = _FACTORIES[(handler.request_streaming, handler.response_streaming)]
    return factory(
        behavior,
        request_deserializer=request_deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    """An interceptor that rebuilds the handlers of one service's methods, those under `prefix`
    (a service's "/package.Service/"), with `wrap`, and passes every other call through (the
    health service, reflection)."""

    def __init__(self, prefix: str):
        self._prefix = prefix

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None or not details.method.startswith(self._prefix):
            return handler
        return self.wrap(handler, details.method.removeprefix(self._prefix), details)

    def wrap(
        self, handler: grpc.RpcMethodHandler, method: str, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        """The handler serving calls of `method` (its name without the prefix)."""
        raise NotImplementedError
