"""Interval stage 2 with 1 and 2 dask workers (and serially) on a synthetic system.

The stage-1 plan is solved once; then the same stage-2 scenarios are solved serially, on
a LocalCluster with 1 worker and with 2 workers. Cluster start-up is timed separately.

Usage: python benchmarks/bench_interval.py [buses feeders scenarios]
"""

from __future__ import annotations

import sys
import time

import pandas as pd
from _common import write

import flexnet
from flexnet.parallel import dask_client, fan_out
from flexnet.uncertainty.interval import stage2


def main(buses: int = 300, feeders: int = 60, n: int = 8) -> pd.DataFrame:
    s = flexnet.synthetic_system(buses, feeders, seed=0)
    plan = flexnet.solve(s, "centralized")
    names = ["high", "low"] + [f"{k}@{h}" for h in range(8, 8 + (n - 2) // 2) for k in ("high", "low")]
    shared = {"system_ds": s.ds, "plan": plan.dataset, "formulation": "angle"}
    rows = []
    t = time.perf_counter()
    fan_out(stage2, names, shared=shared, parallel=False, progress=False)
    serial = time.perf_counter() - t
    rows.append({"mode": "serial", "workers": 1, "startup_s": 0.0, "wall_s": round(serial, 2)})
    for w in (1, 2):
        t0 = time.perf_counter()
        with dask_client(workers=w) as client:
            t1 = time.perf_counter()
            fan_out(stage2, names, shared=shared, client=client, progress=False)
            t2 = time.perf_counter()
        rows.append({"mode": "dask", "workers": w, "startup_s": round(t1 - t0, 2),
                     "wall_s": round(t2 - t1, 2)})
    df = pd.DataFrame(rows)
    df["scenarios"] = len(names)
    df["per_scenario_s"] = (df.wall_s / len(names)).round(2)
    df["speedup_vs_1_worker"] = (df.wall_s[df.workers == 1].iloc[-1] / df.wall_s).round(2)
    df["system"] = f"{buses} buses x {feeders} feeders"
    write(df, "interval_parallel")
    return df


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*args)
