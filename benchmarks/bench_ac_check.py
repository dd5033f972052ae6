"""flexnet.checks.ac_check at scale: all feeders in one pandapower net, one AC power flow
per hour. Times the check on synthetic systems of 100 and 500 feeders × 33 nodes × 24 h
at the forecast injections (assets idle), and on the default case's solved plan.

Run: python benchmarks/bench_ac_check.py
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import xarray as xr

import flexnet
from flexnet.checks import ac_check
from flexnet.results import Result

warnings.simplefilter("ignore")


def timed(result: Result) -> dict:
    t0 = time.perf_counter()
    ac = ac_check(result)
    return {"seconds": round(time.perf_counter() - t0, 1), "nodes": result.system.n("node"),
            "max_v_error": round(ac.attrs["ac_max_v_error"], 4)}


def main() -> None:
    r = flexnet.solve(flexnet.DEFAULT_CASE)
    print("default case (solved plan):", timed(r), flush=True)
    for feeders in (100, 500):
        s = flexnet.synthetic_system(200, feeders, nodes_per_feeder=33, seed=0)
        # the check's cost does not depend on the plan: LinDistFlow voltages stand in at 1.0
        v = xr.DataArray(np.ones((s.n("snapshot"), s.n("node"))),
                         coords=[s.ds.indexes["snapshot"], s.ds.indexes["node"]])
        print(f"{feeders} feeders × 33 nodes × 24 h:", timed(Result(xr.Dataset({"node_v": v}), s)),
              flush=True)


if __name__ == "__main__":
    main()
