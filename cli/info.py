"""`stream info`: what a model is, from a server or loaded here."""

from __future__ import annotations

import argparse
import json

from cli.options import add_checkpoint_option, add_client_options


def add_parser(commands: argparse._SubParsersAction) -> None:
    info = commands.add_parser(
        "info",
        help="the model's resolution, frame rate, chunk size, window, anchor modes and metrics",
        description="What a model is: from a server (--server) or loaded here (--checkpoint).",
    )
    add_client_options(info, server_required=False)
    add_checkpoint_option(info)
    info.add_argument("--json", action="store_true", help="print as JSON")
    info.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from google.protobuf import json_format

    if args.server is None:
        from serve.wire_session import model_info
        from stream import Engine

        info = model_info(Engine.load(args.checkpoint))
    else:
        from cli.connect import client_from_args

        with client_from_args(args) as client:
            info = client.info()
    fields = json_format.MessageToDict(info, preserving_proto_field_name=True)
    if args.json:
        print(json.dumps(fields, indent=2))
    else:
        for name, value in fields.items():
            print(f"{name}: {', '.join(value) if isinstance(value, list) else value}")
    return 0
