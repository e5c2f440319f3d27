"""`stream info`: what a model is, from a server or loaded here."""

from __future__ import annotations

import argparse
import itertools
import json
import re
from typing import Any

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
    print(json.dumps(fields, indent=2) if args.json else "\n".join(info_lines(fields)))
    return 0


_FIRST_WORD = re.compile(r"[^._]*")  # of a metric's name: nested names are joined with dots


def info_lines(fields: dict[str, Any]) -> list[str]:
    """ModelInfo's fields as text: one `name: value` line each, then the metrics, one a line,
    grouped by the first word of their names (real, worlds, vae, ...), sorted within a group
    (numbers by value: h4 before h16), names padded so that the values line up."""
    lines = []
    for name, value in fields.items():
        if name != "metrics":
            lines.append(f"{name}: {', '.join(value) if isinstance(value, list) else value}")
    metrics = fields.get("metrics", {})
    if metrics:
        lines.append(f"metrics ({len(metrics)}):")
        width = max(map(len, metrics))
        ordered = sorted(metrics, key=_natural)
        groups = itertools.groupby(ordered, key=lambda metric: _FIRST_WORD.match(metric)[0])
        for group, names in groups:
            lines.append(f"  {group}")
            lines += [f"    {name:<{width}}  {metrics[name]:>12.6g}" for name in names]
    return lines


def _natural(name: str) -> list[str | int]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
