"""ADMM (hierarchical scheme) on synthetic systems: iterations, time per iteration
against the largest subproblem solve, and 1 vs 2 dask workers.

Usage: python benchmarks/bench_admm.py [feeders ...]   (default 10 100)
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from _common import PeakRSS, write

import flexnet
from flexnet.coordination.hierarchical import Subproblem


def largest_solve(system: flexnet.System) -> float:
    """Wall time of one warm re-solve of the TSO subproblem (the largest agent)."""
    sub = Subproblem("tso", system.ds)
    shape = (3, system.n("snapshot"), system.n("dso"))
    sub.step(np.zeros(shape), np.zeros(shape), 0.1)
    t = time.perf_counter()
    sub.step(np.full(shape, 1.0), np.zeros(shape), 0.1)
    return time.perf_counter() - t


def main(feeders: tuple[int, ...] = (10, 100)) -> pd.DataFrame:
    rows = []
    for f in feeders:
        s = flexnet.synthetic_system(max(30, 2 * f), f, seed=0)
        s.ds.attrs["name"] = f"synthetic-{f}"
        central = flexnet.solve(s, "centralized").dataset.attrs["total_cost"]
        big = largest_solve(s)
        for workers in (None, 2):
            with PeakRSS() as mem:
                t = time.perf_counter()
                r = flexnet.solve(s, "hierarchical", parallel=workers is not None,
                                  workers=workers, progress=False, max_iter=300).dataset
                wall = time.perf_counter() - t
            it = int(r.attrs["admm_iterations"])
            per = float(r.admm_iteration_s.mean())
            rows.append({"feeders": f, "buses": s.n("bus"), "workers": workers or "serial",
                         "iterations": it, "status": r.attrs["status"],
                         "wall_s": round(wall, 1), "build_s": round(r.attrs["admm_build_s"], 1),
                         "s_per_iteration": round(per, 3),
                         "largest_solve_s": round(big, 3),
                         "iteration/largest": round(per / big, 2),
                         "cost_gap_vs_central": f"{r.attrs['total_cost'] / central - 1:.1e}",
                         "peak_mb": round(mem.peak - mem.base, 1)})
    df = pd.DataFrame(rows)
    write(df, "admm")
    return df


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or (10, 100))
