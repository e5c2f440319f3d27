"""What a server operator can set, with the defaults `stream serve` documents."""

from __future__ import annotations

import dataclasses
import pathlib

from serve.limits import Limits

DEFAULT_PORT = 50051
DEFAULT_MAX_SESSIONS = 8
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a few seconds of 1080p RGB24, or a short mp4
DEFAULT_GRACE_SECONDS = 10.0
DEFAULT_PREFETCH_CHUNKS = 2
DEFAULT_JOB_STORE = pathlib.Path.home() / ".cache" / "stream" / "jobs"
DEFAULT_JOB_TTL_SECONDS = 3600.0
DEFAULT_JOB_STORE_BYTES = 2**30  # 16 jobs of the largest message; most jobs are far smaller


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT  # 0 picks a free port (see StreamServer.port)
    max_sessions: int = DEFAULT_MAX_SESSIONS  # live sessions and extension jobs at once
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES  # either direction
    token: str | None = None  # bearer token every call but health checks must carry
    tls_cert: bytes | None = None  # PEM certificate chain; with tls_key, serve TLS only
    tls_key: bytes | None = None  # PEM private key
    grace_seconds: float = DEFAULT_GRACE_SECONDS  # calls still running at shutdown get this long
    prefetch_chunks: int = DEFAULT_PREFETCH_CHUNKS  # chunks made ahead of a slow reader, at most
    # Threads that call the engine (host work, then waiting for a tick); None: one per session,
    # so every session can wait for the same tick. The engine's batcher bounds the device work
    # in flight (Engine workers), so threads beyond the cores add no contention.
    engine_threads: int | None = None
    limits: Limits = Limits()  # the work one request may cause
    metrics_port: int | None = None  # Prometheus /metrics on host:port; None: not served
    # Folder of resumable Extend jobs, shareable by servers of the same model; None: jobs cannot
    # be resumed. `stream serve` uses DEFAULT_JOB_STORE.
    job_store: pathlib.Path | None = None
    job_ttl_seconds: float = DEFAULT_JOB_TTL_SECONDS  # a job without progress this long expires
    job_store_bytes: int = DEFAULT_JOB_STORE_BYTES  # disk use of the job store, at most

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port={self.port} is out of range; accepted: 0 (any free) to 65535")
        if self.max_sessions < 1:
            raise ValueError(f"max_sessions={self.max_sessions} is out of range; accepted: >= 1")
        if self.max_message_bytes < 1024 * 1024:
            raise ValueError(
                f"max_message_bytes={self.max_message_bytes} is too small; accepted: >= 1 MiB"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both a certificate and its private key; got only one")
        if self.grace_seconds < 0:
            raise ValueError(f"grace_seconds={self.grace_seconds} must be >= 0")
        if self.prefetch_chunks < 1:
            raise ValueError(
                f"prefetch_chunks={self.prefetch_chunks} is out of range; accepted: >= 1"
            )
        if self.engine_threads is not None and self.engine_threads < 1:
            raise ValueError(
                f"engine_threads={self.engine_threads} is out of range; accepted: >= 1"
            )
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ValueError(
                f"metrics_port={self.metrics_port} is out of range; accepted: 0 (any free) to "
                "65535, or None for no metrics endpoint"
            )
        if not self.job_ttl_seconds > 0:
            raise ValueError(
                f"job_ttl_seconds={self.job_ttl_seconds} is out of range; accepted: > 0"
            )
        if self.job_store_bytes < self.max_message_bytes:
            raise ValueError(
                f"job_store_bytes={self.job_store_bytes} is too small; accepted: at least the "
                f"max message size, {self.max_message_bytes} bytes (a job's request must fit)"
            )
        if self.token is not None and not self.token:
            raise ValueError("token is empty; accepted: a non-empty string, or None for no auth")

    @property
    def threads(self) -> int:
        """Threads that call the engine."""
        return self.max_sessions if self.engine_threads is None else self.engine_threads

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def read_token_file(path: str | pathlib.Path) -> str:
    """The bearer token in a file (surrounding whitespace, such as a final newline, dropped)."""
    try:
        token = pathlib.Path(path).read_text().strip()
    except OSError as error:
        raise ValueError(f"token file {str(path)!r}: cannot read it ({error.strerror})") from error
    if not token or any(c.isspace() for c in token):
        raise ValueError(
            f"token file {str(path)!r}: expected one token without spaces, got "
            f"{'nothing' if not token else 'several words'}"
        )
    return token


def read_pem_file(path: str | pathlib.Path, what: str) -> bytes:
    try:
        data = pathlib.Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"{what} {str(path)!r}: cannot read it ({error.strerror})") from error
    if b"-----BEGIN" not in data:
        raise ValueError(f"{what} {str(path)!r}: not a PEM file (no '-----BEGIN' line)")
    return data
