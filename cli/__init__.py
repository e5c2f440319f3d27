"""The `stream` console script: one module per command (serve, extend, live, info, eval, bench,
drift, soak), each adding its own parser, the options several of them share (options.py), the
client their --server builds (connect.py), and the runners of the commands that are command-line
glue (serve_command.py, extend_command.py, live_command.py, soak_command.py). It sits on top:
`cli` imports the server and its client (`serve`), the lab's wire tools (`lab`) and the engine
(`stream`), and none of them imports `cli`.

Building the parser imports only argparse and these modules, which import nothing heavy at the
top: a command imports the engine (JAX) or the gRPC client when it runs, so `stream --help` and
the commands that only talk to a server start in a fraction of a second.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Module names under cli/, in the order `stream --help` lists them.
COMMANDS = ("serve", "extend", "live", "info", "eval", "bench", "drift", "soak")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stream",
        description="Streaming autoregressive video extension on JAX. Every command has --help.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"cli.{name}").add_parser(commands)
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
