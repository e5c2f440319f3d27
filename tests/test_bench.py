"""`stream bench` measures every stage it names (what it measures is not asserted: benchmarks
are commands, and our machines are noisy)."""

from __future__ import annotations

from stream.bench import format_report, run_bench


def test_bench_reports_every_stage_latency_and_the_recompute_comparison(tiny_engine):
    report = run_bench(tiny_engine, chunks=3, early=1, history=5, repeats=2)
    assert [row["stage"] for row in report["stages"]] == ["encode", "DiT step", "commit", "decode"]
    assert all(row["ms"] >= 0 and row["gflops_per_s"] >= 0 for row in report["stages"])
    assert report["matmul_peak_gflops_per_s"] > 0
    assert set(report["rollout"]["latency_ms_at_chunk"]) == {"1", "3"}
    assert report["recompute"]["speedup"] > 0
    assert "speedup" in format_report(report)
