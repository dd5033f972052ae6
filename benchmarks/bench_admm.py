"""ADMM (hierarchical scheme) on synthetic systems: iterations, time per iteration
against the largest subproblem solve of that iteration, serial vs 2 dask workers.

Usage: python benchmarks/bench_admm.py [--parallel-only] [feeders ...]   (default 10 100)

Rows of other sizes already in ``results/admm.csv`` are kept, so sizes can be run one at a
time (the largest take tens of minutes). ``--parallel-only`` runs the 2-worker case alone
and takes the serial row of that size from ``results/admm.csv`` (for a change that only
touches the parallel path; the serial 300-feeder run takes 13 min).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from _common import OUT, PeakRSS, write
from tqdm.auto import tqdm

import flexnet
from flexnet.checks import residuals

#: largest size with the centralized cost as a reference (above it: the residual checks)
REFERENCE_UP_TO = 100


def main(feeders: tuple[int, ...] = (10, 100), parallel_only: bool = False) -> pd.DataFrame:
    old = OUT / "admm.csv"
    prev = pd.read_csv(old) if old.exists() else pd.DataFrame(columns=["feeders", "workers"])
    rows = []
    for f in tqdm(feeders, desc="sizes"):
        s = flexnet.synthetic_system(max(30, 2 * f), f, seed=0)
        s.ds.attrs["name"] = f"synthetic-{f}"
        # the centralized reference: its one LP at 600 buses x 300 feeders ran > 20 min
        central = (flexnet.solve(s, "centralized").dataset.attrs["total_cost"]
                   if f <= REFERENCE_UP_TO else np.nan)
        if parallel_only:
            kept = prev[(prev.feeders == f) & (prev.workers == "serial")]
            if kept.empty:
                raise SystemExit(f"--parallel-only: no serial row for {f} feeders in {old}")
            rows.append(kept.iloc[0].to_dict())
        for workers in (2,) if parallel_only else (None, 2):
            with PeakRSS() as mem:
                t = time.perf_counter()
                # one HiGHS thread per solve, so serial and parallel compare like for like
                res = flexnet.solve(s, "hierarchical", parallel=workers is not None,
                                    workers=workers, progress=False, max_iter=300, threads=1,
                                    allow_suboptimal=True)  # the status is in the table
                r = res.dataset
                wall = time.perf_counter() - t
            it = int(r.attrs["admm_iterations"])
            # per-iteration times, to see what the means hide (e.g. a TSO slower every 10th)
            r[["admm_iteration_s", "admm_largest_solve_s", "admm_solve_sum_s",
               "admm_busiest_worker_s"]].to_dataframe().to_csv(
                OUT / f"admm_iterations_{f}_{workers or 'serial'}.csv")
            per = float(r.admm_iteration_s[1:].mean())  # iteration 0 solves cold
            big = float(r.admm_largest_solve_s[1:].mean())
            rows.append({"feeders": f, "buses": s.n("bus"), "workers": workers or "serial",
                         "iterations": it, "status": r.attrs["status"],
                         "wall_s": round(wall, 1), "build_s": round(r.attrs["admm_build_s"], 1),
                         "s_per_iteration": round(per, 3),
                         "largest_solve_s": round(big, 3),
                         "solve_sum_s": round(float(r.admm_solve_sum_s[1:].mean()), 3),
                         "iteration/largest": round(per / big, 2),
                         # the busiest worker's solves: the rest of an iteration is dispatch
                         "busiest_worker_s": round(float(r.admm_busiest_worker_s[1:].mean()), 3),
                         "cost_gap_vs_central": f"{r.attrs['total_cost'] / central - 1:.1e}"
                         if np.isfinite(central) else "-",
                         "worst_residual": f"{max(residuals(res).values()):.1e}",
                         "peak_mb": round(mem.peak - mem.base, 1)})
    df = pd.DataFrame(rows)
    # time per iteration, serial over 2 workers (bench_cores.py gives this machine's ceiling)
    serial = df[df.workers == "serial"].set_index("feeders").s_per_iteration
    df["speedup"] = [round(serial[f] / s, 2) if w != "serial" else 1.0
                     for f, w, s in zip(df.feeders, df.workers, df.s_per_iteration, strict=True)]
    if not prev.empty:  # keep the other sizes' latest rows
        prev = prev[~prev.feeders.isin(df.feeders)]
        df = pd.concat([prev, df], ignore_index=True).sort_values("feeders", kind="stable")
        df = df.fillna({"worst_residual": "-", "busiest_worker_s": "-"})  # newer columns
    write(df, "admm")
    return df


if __name__ == "__main__":
    args = sys.argv[1:]
    main(tuple(int(a) for a in args if a != "--parallel-only") or (10, 100),
         parallel_only="--parallel-only" in args)
