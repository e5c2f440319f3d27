"""Code generated from protos/stream/v1/stream.proto by `python -m serve.protogen`; do not edit."""
