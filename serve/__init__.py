"""The gRPC server (stream.v1.VideoStream, health, reflection) over the engine, and its client
library. The `stream` command line lives in cli/ and the lab's wire tools in lab/; `serve`
imports neither.
"""
