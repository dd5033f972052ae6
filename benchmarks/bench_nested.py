"""Nested MILP (issue 4): solve time on the default case and on cuts of it.

Each row cuts the default case (``rts24-dso``) to some DSOs and hours with
:meth:`flexnet.System.select`, solves ``scheme="nested"`` with a time limit, once per
method — ``blocks`` (hour-by-hour decomposition, the default) and ``milp`` (the whole
MILP in HiGHS) — and records the MILP's binaries, its build and solve seconds, the
proven gap, the lower-level verification and the total cost against the centralized
optimum. The full case is also solved by ``blocks`` with its hours on 2 dask workers.
The goal of issue 4 is the full default case (4 DSOs, 24 h) in ≤ 60 s.

Usage: python benchmarks/bench_nested.py [--time-limit S] [--full-only]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
from _common import PeakRSS, write

import flexnet
from flexnet.solver import record_stats

#: (DSOs, hours): from the size the test suite runs to the full default case
LADDER = [(("DSO1",), 6), (("DSO1", "DSO2"), 4), (("DSO1", "DSO2"), 12), (None, 6),
          (None, 12), (None, 24)]


def one(dsos: tuple[str, ...] | None, hours: int, time_limit: float, method: str = "blocks",
        workers: int | None = None) -> dict:
    """Solve one cut of the default case under ``nested`` and summarise it."""
    full = flexnet.load_case("rts24-dso")
    s = full.select(dsos=list(dsos) if dsos else None, hours=hours)
    central = flexnet.solve(s, "centralized").dataset.attrs["total_cost"]
    with PeakRSS() as mem, record_stats() as stats:
        t0 = time.perf_counter()
        r = flexnet.solve(s, "nested", time_limit=time_limit, method=method,
                          parallel=workers is not None, workers=workers, progress=False,
                          allow_suboptimal=True)  # the status is in the table
        wall = time.perf_counter() - t0
    a = r.dataset.attrs
    milp = next(row for row in stats if row["model"] == "nested")
    return {"dsos": s.n("dso"), "hours": hours, "method": method, "workers": workers or 1,
            "rounds": a.get("blocks_rounds", ""), "binaries": a["binaries"],
            "vars": milp["vars"], "cons": milp["cons"],
            "milp_build_s": round(milp["build_s"] + milp["handoff_s"], 1),
            "milp_solve_s": round(milp["solve_s"], 1), "wall_s": round(wall, 1),
            "status": a["status"], "mip_gap": f"{a['mip_gap']:.2%}",
            "upper_objective": round(a["mip_objective"], 1),
            "dual_bound": round(a["mip_dual_bound"], 1),
            "verify_passed": a["verify_passed"], "bigm_binding": a["bigm_binding"],
            "cost_vs_central": f"{a['total_cost'] / central - 1:+.1e}",
            "within_60s": bool(a["status"] == "optimal" and wall <= 60),
            "peak_mb": round(mem.peak, 0)}


def main(time_limit: float = 60, full_only: bool = False) -> pd.DataFrame:
    ladder = LADDER[-1:] if full_only else LADDER
    runs = [(d, h, method, None) for d, h in ladder for method in ("blocks", "milp")]
    runs.append((*LADDER[-1], "blocks", 2))
    rows = []
    for dsos, hours, method, workers in runs:
        rows.append(one(dsos, hours, time_limit, method, workers))
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    write(df, "nested")
    return df


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=60)
    ap.add_argument("--full-only", action="store_true", help="only the full default case")
    args = ap.parse_args()
    main(args.time_limit, args.full_only)
