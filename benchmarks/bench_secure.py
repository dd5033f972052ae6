"""Securing the plan against the interval extremes: repair rounds vs the one-shot LP.

For each system, serially: ``solve_interval(method="repair")`` (3 repair rounds) and
``method="oneshot"`` (extremes added lazily); optionally ``scenarios="all"`` (every
extreme in the LP from the start) under a wall-time limit. Prints wall time, peak memory,
the stage-1 objective, what stays uncovered and the one-shot LP's size.

Usage: python benchmarks/bench_secure.py [--all] [--synthetic BUSES FEEDERS ...]
       (default: the default case, the stressed case and synthetic 30 x 5 and 100 x 20)
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
from _common import PeakRSS, write

import flexnet
from flexnet.uncertainty import solve_interval


def one(system: flexnet.System, label: str, method: str, scenarios: str = "lazy",
        time_limit: float | None = None) -> dict:
    t = time.perf_counter()
    name = method if method == "repair" else f"oneshot/{scenarios}"
    try:
        with PeakRSS() as mem:
            opts = {"time_limit": time_limit} if time_limit else {}
            a = solve_interval(system, method=method, scenarios=scenarios, **opts).dataset.attrs
    except flexnet.SolverError as exc:  # e.g. the time limit on the all-extremes LP
        row = {"system": label, "method": name, "wall_s": round(time.perf_counter() - t, 1),
               "error": exc.status}
        print(row, flush=True)
        return row
    row = {"system": label, "method": name,
           "wall_s": round(time.perf_counter() - t, 1), "peak_mb": round(mem.peak),
           "objective": a["objective"], "uncovered_mwh": a["uncovered_mwh"],
           "rounds": a["interval_rounds"], "security_premium": a.get("security_premium"),
           "scenarios_in_lp": a.get("oneshot_scenarios"), "lp_columns": a.get("oneshot_columns"),
           "lp_rows": a.get("oneshot_rows"), "check_passed": a.get("oneshot_check_passed")}
    print(row, flush=True)
    return row


def main() -> pd.DataFrame:
    p = argparse.ArgumentParser()
    p.add_argument("--all", action="store_true", help="also the one-shot LP with every extreme")
    p.add_argument("--synthetic", type=int, nargs="*", default=[30, 5, 100, 20])
    a = p.parse_args()
    systems = [(flexnet.DEFAULT_CASE, flexnet.load_case(flexnet.DEFAULT_CASE)),
               ("rts24-dso-stressed", flexnet.load_case("rts24-dso-stressed"))]
    pairs = list(zip(a.synthetic[::2], a.synthetic[1::2], strict=True))
    systems += [(f"synthetic {b} x {f}", flexnet.synthetic_system(b, f, seed=0)) for b, f in pairs]
    rows = []
    for label, s in systems:
        rows.append(one(s, label, "repair"))
        rows.append(one(s, label, "oneshot"))
        if a.all:
            rows.append(one(s, label, "oneshot", "all", time_limit=1800))
    df = pd.DataFrame(rows)
    write(df, "secure")
    return df


if __name__ == "__main__":
    main()
