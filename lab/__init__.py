"""The lab's tools that measure or stress a running server over the wire: the gRPC half of
`stream bench --sessions` (grpc_bench), `stream drift --server` (wire_drift), the fuzzed calls of
`stream soak --fuzz` and of the fault suite (fuzz), and a per-chunk latency probe run as
`python -m lab.measure_latency`. They reach a server through serve's client and use the engine's
lab (`stream.lab`) for what they compute; the `stream` commands that run them parse their options
in cli/. `lab` may import `serve` and `stream`, never `cli`, and `serve` never imports `lab`.
"""
