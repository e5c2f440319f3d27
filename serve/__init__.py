"""gRPC service, client and the `stream` command line over the engine's public session API."""
