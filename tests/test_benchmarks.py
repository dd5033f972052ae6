"""The size sweep's small end, as a smoke test of the benchmark and of record_stats."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_sweep  # noqa: E402


@pytest.mark.parametrize("scheme", ["centralized", "sequential", "hierarchical", "interval",
                                    "nested"])
def test_sweep_smoke(scheme, monkeypatch):
    monkeypatch.setitem(bench_sweep.OPTIONS, "nested", {"time_limit": 20})
    df = bench_sweep.main([scheme], smoke=True)
    row = df.iloc[0]
    assert row.ts_buses == bench_sweep.LADDER[0][0]
    assert row.hours == 6
    assert min(row.vars, row.cons) > 1000
    assert row.nonzeros > row.vars
    assert min(row.build_s, row.handoff_s, row.solve_s) > 0
    assert row.peak_rss_mb > 50
    assert row.status in ("optimal", "time_limit")
    assert row.total_cost > 0
    # one model for centralized; sequential solves the DSOs' forecast, the TSO and a repair
    assert row.models >= {"centralized": 1, "sequential": 3, "hierarchical": 2,
                          "interval": 3, "nested": 2}[scheme]
