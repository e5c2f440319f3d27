"""`stream bench` measures every stage it names (what it measures is not asserted: benchmarks
are commands, and our machines are noisy)."""

from __future__ import annotations

import pytest

from lab.grpc_bench import run_grpc_sessions
from stream.lab.bench import format_report, format_sessions_report, run_bench, run_sessions_bench

pytestmark = pytest.mark.slow  # the edit-test loop leaves it out (README, Tests)


def test_bench_reports_every_stage_latency_and_the_recompute_comparison(tiny_engine):
    report = run_bench(tiny_engine, chunks=3, early=1, history=5, repeats=2)
    assert [row["stage"] for row in report["stages"]] == ["encode", "DiT step", "commit", "decode"]
    assert all(row["ms"] >= 0 and row["gflops_per_s"] >= 0 for row in report["stages"])
    assert report["matmul_peak_gflops_per_s"] > 0
    assert set(report["rollout"]["latency_ms_at_chunk"]) == {"1", "3"}
    assert report["recompute"]["speedup"] > 0
    assert "speedup" in format_report(report)


def test_sessions_bench_reports_every_load_in_process_and_over_grpc(tiny_engine):
    report = run_sessions_bench(tiny_engine, [1, 2], chunks=2)
    report["grpc"] = run_grpc_sessions(tiny_engine, [1, 2], 2, report["flops_per_chunk"])
    for path in ("in_process", "grpc"):
        assert [row["sessions"] for row in report[path]] == [1, 2]
        assert all(row["frames_per_s"] > 0 and row["p99_ms"] >= row["p50_ms"] > 0
                   for row in report[path])  # fmt: skip
    assert "grpc" in format_sessions_report(report)
