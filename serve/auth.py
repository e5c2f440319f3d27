"""Bearer-token authentication as a server interceptor.

Every call must carry the metadata `authorization: Bearer <token>`, except health checks: load
balancers and orchestrators probe health without credentials.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

import grpc

UNAUTHENTICATED_PREFIXES = ("/grpc.health.v1.Health/",)


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
            f"{reason}; accepted: 'authorization: Bearer <token>' with the "
            "token from the server's --token-file",
        )


def _refusal(message: str) -> grpc.RpcMethodHandler:
    """A handler that ends the call with UNAUTHENTICATED without reading its request: handlers
    of streamed requests read them on demand, whatever the method's own kind, and no
    deserializer is given, so an unauthenticated caller's bytes are never parsed."""

    async def refuse(requests: object, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return grpc.stream_stream_rpc_method_handler(refuse)
