"""linopy's fixed cost per operation against the smallest sweep point's HiGHS solve.

Issue 7 asks for build + hand-off ≤ 10 % of the solve at every size of the size sweep.
At its smallest point (30 TS buses × 5 feeders, 24 h) HiGHS needs well under a second.
This script asks whether any linopy model with as many variable arrays and constraint
families as flexnet's centralized model could be built in 10 % of that time. It builds
a stand-in model with the same number of variable arrays and constraint families (three
terms each, the same total size), once through linopy's expression arithmetic (as
flexnet's blocks do) and once from label arrays (``LinearExpression`` from a Dataset,
no alignment), and times flexnet's own build, hand-off and solve of the real model.

Usage: python benchmarks/bench_linopy_floor.py [--buses 30] [--feeders 5]
"""

from __future__ import annotations

import argparse
import time

import linopy
import numpy as np
import pandas as pd
import xarray as xr
from _common import write

import flexnet
from flexnet.solver import record_stats


def _standin(n_vars: int, n_cons: int, size: int, direct: bool) -> float:
    """Seconds to add ``n_cons`` three-term constraint families over ``n_vars`` arrays."""
    m = linopy.Model(force_dim_names=True)
    el = pd.RangeIndex(size, name="el")
    t0 = time.perf_counter()
    vs = [m.add_variables(lower=0, upper=1, coords=[el], name=f"v{i}") for i in range(n_vars)]
    for j in range(n_cons):
        a, b, c = (vs[(j + k) % n_vars] for k in (0, 1, 3))
        if direct:
            labs = np.stack([a.labels.values, b.labels.values, c.labels.values], -1)
            coeffs = np.broadcast_to([1.0, 2.0, -1.0], labs.shape).copy()
            data = xr.Dataset({"coeffs": (("el", "_term"), coeffs),
                               "vars": (("el", "_term"), labs)}, coords={"el": el})
            m.add_constraints(linopy.LinearExpression(data, m), "<=", 1, name=f"c{j}")
        else:
            m.add_constraints(a + 2 * b - c <= 1, name=f"c{j}")
    return time.perf_counter() - t0


def main(buses: int = 30, feeders: int = 5) -> pd.DataFrame:
    s = flexnet.synthetic_system(buses, feeders, seed=0)
    flexnet.solve(s, "centralized")  # warm-up: imports and first-call costs
    with record_stats() as stats:
        flexnet.solve(s, "centralized")
    row = stats[-1]
    from flexnet.coordination.centralized import build_centralized

    m = build_centralized(s, "angle")
    n_vars, n_cons = len(m.variables), len(m.constraints)
    size = max(1, row["vars"] // n_vars)  # the same total column count, spread evenly
    _standin(n_vars, n_cons, size, direct=False)  # warm-up
    arith = _standin(n_vars, n_cons, size, direct=False)
    direct = _standin(n_vars, n_cons, size, direct=True)
    solve = row["solve_s"]
    rows = [
        {"what": "flexnet centralized: build", "seconds": row["build_s"]},
        {"what": "flexnet centralized: hand-off", "seconds": row["handoff_s"]},
        {"what": "flexnet centralized: HiGHS solve", "seconds": solve},
        {"what": f"stand-in, {n_vars} variable arrays + {n_cons} constraint families, "
                 "expression arithmetic", "seconds": arith},
        {"what": "stand-in, same, LinearExpression from label arrays", "seconds": direct},
        {"what": "10 % of the HiGHS solve (the issue's bound)", "seconds": 0.1 * solve},
    ]
    df = pd.DataFrame(rows)
    df["share_of_solve"] = (df.seconds / solve).map(lambda x: f"{x:.0%}")
    df["seconds"] = df.seconds.round(3)
    df.attrs.update(buses=buses, feeders=feeders, vars=row["vars"], cons=row["cons"])
    print(f"{buses} TS buses × {feeders} feeders: {row['vars']:,} variables, "
          f"{row['cons']:,} constraints in {n_vars} variable arrays and {n_cons} "
          "constraint families")
    write(df, "linopy_floor")
    return df


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--buses", type=int, default=30)
    p.add_argument("--feeders", type=int, default=5)
    args = p.parse_args()
    main(args.buses, args.feeders)
