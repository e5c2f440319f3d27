"""Server reflection under both of its names: grpc.reflection.v1, which current tools (grpcurl,
Postman's newer releases) ask first, and v1alpha, which older ones ask.

grpcio-reflection implements v1alpha only (grpc/grpc issue 38576). v1 is the same protocol
renamed: its messages have v1alpha's fields and numbers, so the same bytes parse as either, and
one servicer, reading and writing v1alpha's message classes, answers both.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
V1ALPHA_SERVICE_NAME = reflection.SERVICE_NAME
_METHOD = "ServerReflectionInfo"


def enable_reflection(service_names: Sequence[str], server: grpc.aio.Server) -> None:
    """Answers reflection on the server, listing service_names and reflection itself. The v1
    name is answered but not listed: the descriptor pool holds v1alpha's file only, so a client
    asking to describe the v1 service would get NOT_FOUND."""
    servicer = reflection.aio.ReflectionServicer([*service_names, V1ALPHA_SERVICE_NAME])
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(name, {_METHOD: handler})
            for name in (V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)
        ]
    )
