"""The `stream` console script: one module per command, each adding its own parser.

Building the parser imports only argparse and these modules, which import nothing heavy at the
top: a command imports the engine (JAX) or the gRPC client when it runs, so `stream --help` and
the commands that only talk to a server start in a fraction of a second.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Module names under serve/cli/, in the order `stream --help` lists them.
COMMANDS = ("serve", "extend", "live", "info", "eval", "bench", "drift", "soak")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stream",
        description="Streaming autoregressive video extension on JAX. Every command has --help.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"serve.cli.{name}").add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import grpc  # after parsing: --help exits before paying for it

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
