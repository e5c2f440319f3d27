"""The `stream` console script: the engine's commands plus the ones that talk gRPC."""

from __future__ import annotations

import argparse
import sys

import grpc

from serve.commands import add_commands as add_serving_commands
from stream.cli import add_commands as add_engine_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stream",
        description="Streaming autoregressive video extension on JAX.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_engine_commands(commands)
    add_serving_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ValueError as error:
        print(f"stream {args.command}: {error}", file=sys.stderr)
        return 2
    except grpc.RpcError as error:
        print(f"stream {args.command}: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    except TimeoutError as error:
        print(f"stream {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
