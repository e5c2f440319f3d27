"""`stream soak`, short: sessions against a running server, and fuzzing."""

from __future__ import annotations

import os

import pytest

from cli import main
from serve.background import BackgroundServer
from serve.settings import ServerSettings


@pytest.fixture(scope="module")
def server(tiny_engine, tmp_path_factory):
    settings = ServerSettings(port=0, job_store=tmp_path_factory.mktemp("jobs"))
    with BackgroundServer(tiny_engine, settings) as running:  # warm: no compiling in the soak
        yield running


def test_soak_reports_errors_latency_percentiles_and_memory(server, capsys):
    argv = ["soak", "--server", server.target, "--server-pid", str(os.getpid())]
    assert main(argv + ["--sessions", "2", "--minutes", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "soak: 2 sessions for 0.1 min" in out
    assert "errors by status code: none" in out
    assert "chunk latency (server): p50" in out and "p99/p50" in out
    assert f"resident memory (process {os.getpid()})" in out


def test_soak_fuzz_counts_status_codes_and_finds_nothing_unexpected(server, capsys):
    assert main(["soak", "--server", server.target, "--fuzz", "40"]) == 0
    out = capsys.readouterr().out
    assert "fuzz: 40 calls" in out
    assert "unexpected codes (UNKNOWN, INTERNAL, ...): none" in out
    assert "server health after: SERVING" in out
