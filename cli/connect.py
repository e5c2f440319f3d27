"""A client of the server that `stream` commands' --server, --token-file, --tls-ca and --wait
name (imported when such a command runs, not to build the parser)."""

from __future__ import annotations

import argparse
import sys

import grpc

from serve.client import StreamClient
from serve.settings import read_token_file


def client_from_args(args: argparse.Namespace) -> StreamClient:
    """A client of --server, once that server answers SERVING."""
    token = None if args.token_file is None else read_token_file(args.token_file)
    client = StreamClient(args.server, token=token, tls_ca=args.tls_ca)
    try:
        _wait_until_serving(client, args.server, args.wait)
    except BaseException:
        client.close()
        raise
    return client


def _wait_until_serving(client: StreamClient, server: str, wait_seconds: float) -> None:
    try:
        client.wait_until_serving(timeout=0)
    except (grpc.RpcError, TimeoutError):
        if wait_seconds <= 0:
            raise
        print(
            f"waiting up to {wait_seconds:g} s for {server} to be up and warmed up...",
            file=sys.stderr,
            flush=True,
        )
        client.wait_until_serving(wait_seconds)
