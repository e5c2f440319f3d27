"""Regenerates the committed gRPC code in serve/wire/ from protos/stream/v1/stream.proto.

    .venv/bin/python -m serve.protogen

Generated code is committed so that a fresh install needs no protoc. protoc writes the service
module with an absolute import (`from stream.v1 import stream_pb2`) that would collide with our
own `stream` package; it is rewritten to a relative one.
"""

from __future__ import annotations

import pathlib
import tempfile

from google.protobuf import descriptor_pb2

REPO = pathlib.Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO / "protos"
PROTO_FILE = "stream/v1/stream.proto"
WIRE_DIR = pathlib.Path(__file__).resolve().parent / "wire"
GENERATED = ("stream_pb2.py", "stream_pb2.pyi", "stream_pb2_grpc.py")
_ABSOLUTE_IMPORT = "from stream.v1 import stream_pb2"
_RELATIVE_IMPORT = "from . import stream_pb2"


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


def main() -> None:
    for path in generate():
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
