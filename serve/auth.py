"""Bearer-token authentication as a server interceptor.

Every call must carry the metadata `authorization: Bearer <token>`, except health checks: load
balancers and orchestrators probe health without credentials.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

import grpc

UNAUTHENTICATED_PREFIXES = ("/grpc.health.v1.Health/",)

_HANDLER_FACTORIES = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """The call metadata a client sends to pass BearerTokenInterceptor."""
    return (("authorization", f"Bearer {token}"),)


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None or details.method.startswith(UNAUTHENTICATED_PREFIXES):
            return handler
        sent = [value for key, value in details.invocation_metadata or () if key == "authorization"]
        if len(sent) == 1 and hmac.compare_digest(sent[0].encode(), self._expected):
            return handler
        reason = (
            "no 'authorization' metadata"
            if not sent
            else "the 'authorization' metadata does not hold the server's token"
        )
        return _refusal(
            handler,
            f"{reason}; accepted: 'authorization: Bearer <token>' with the "
            "token from the server's --token-file",
        )


def _refusal(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that ends the call with UNAUTHENTICATED."""

    async def refuse(request: object, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    factory = _HANDLER_FACTORIES[(handler.request_streaming, handler.response_streaming)]
    return factory(
        refuse,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
