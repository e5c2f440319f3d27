"""Method handlers rebuilt around their behaviour, for server interceptors that act on every call
of the service (parsing, logging) rather than on its metadata alone."""

from __future__ import annotations

from collections.abc import Callable
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
