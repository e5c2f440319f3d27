"""Regenerates the committed gRPC code in serve/wire/ from protos/stream/v1/stream.proto.

    .venv/bin/python -m serve.protogen          # rewrite serve/wire/
    .venv/bin/python -m serve.protogen --check  # exit 1 if serve/wire/ is not what it generates

Generated code is committed so that a fresh install needs no protoc. protoc writes the service
module with an absolute import (`from stream.v1 import stream_pb2`) that would collide with our
own `stream` package; it is rewritten to a relative one.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys
import tempfile

from google.protobuf import descriptor_pb2

REPO = pathlib.Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO / "protos"
PROTO_FILE = "stream/v1/stream.proto"
WIRE_DIR = pathlib.Path(__file__).resolve().parent / "wire"
GENERATED = ("stream_pb2.py", "stream_pb2.pyi", "stream_pb2_grpc.py")
_ABSOLUTE_IMPORT = "from stream.v1 import stream_pb2"
_RELATIVE_IMPORT = "from . import stream_pb2"
# The generators' own versions, stamped into their output: a newer protoc or gRPC plugin on a
# fresh machine writes other numbers for the same contract.
_VERSION_STAMPS = (
    re.compile(r"Protobuf Python Version: \S+"),
    re.compile(r"GRPC_GENERATED_VERSION = '[^']*'"),
    re.compile(r"ValidateProtobufRuntimeVersion\(.*?\)", re.DOTALL),
)


def _protoc(*args: str) -> None:
    from importlib.resources import files

    from grpc_tools import protoc

    well_known = str(files("grpc_tools") / "_proto")
    argv = ["protoc", f"-I{PROTO_ROOT}", f"-I{well_known}", *args, PROTO_FILE]
    if protoc.main(argv) != 0:
        raise RuntimeError(f"protoc failed on {PROTO_ROOT / PROTO_FILE}")


def compiled_file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """The .proto compiled now, as the generated code embeds it (to compare with serve/wire)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "stream.pb"
        _protoc(f"--descriptor_set_out={out}")
        (compiled,) = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    messages = list(compiled.message_type)
    while messages:  # generated code leaves out JSON names, which follow from field names
        message = messages.pop()
        messages.extend(message.nested_type)
        for field in message.field:
            field.ClearField("json_name")
    return compiled


def generate(target: pathlib.Path = WIRE_DIR) -> list[pathlib.Path]:
    """Writes the message, type-stub and service modules into target; returns their paths."""
    with tempfile.TemporaryDirectory() as tmp:
        _protoc(f"--python_out={tmp}", f"--pyi_out={tmp}", f"--grpc_python_out={tmp}")
        written = []
        for name in GENERATED:
            source = pathlib.Path(tmp) / "stream" / "v1" / name
            text = source.read_text().replace(_ABSOLUTE_IMPORT, _RELATIVE_IMPORT)
            destination = target / name
            destination.write_text(text)
            written.append(destination)
        return written


def _without_version_stamps(text: str) -> str:
    for stamp in _VERSION_STAMPS:
        text = stamp.sub("<version>", text)
    return text


def stale_files() -> list[str]:
    """The generated modules in serve/wire/ that differ from what protos/ generates now (the
    generators' version stamps aside)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {path.name: path.read_text() for path in generate(pathlib.Path(tmp))}
    return [
        name
        for name in GENERATED
        if not (WIRE_DIR / name).exists()
        or _without_version_stamps((WIRE_DIR / name).read_text())
        != _without_version_stamps(fresh[name])
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serve.protogen", description=__doc__)
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if serve/wire/ is not what protos/ generates",
    )
    if parser.parse_args(argv).check:
        stale = stale_files()
        for name in stale:
            print(f"serve/wire/{name} is stale: run `python -m serve.protogen`", file=sys.stderr)
        return 1 if stale else 0
    for path in generate():
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
