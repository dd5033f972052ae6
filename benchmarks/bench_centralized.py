"""Build, hand-off and solve time of the centralized scheme on growing synthetic systems.

Reports variables, constraints, nonzeros, build s (linopy), hand-off s (linopy → highspy,
direct, no files), solve s (HiGHS) and peak memory; writes CSV, Markdown and a PNG.

Usage: python benchmarks/bench_centralized.py [--quick | --full]
"""

from __future__ import annotations

import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from _common import OUT, PeakRSS, write
from tqdm import tqdm

import flexnet
from flexnet.coordination.centralized import build_centralized

# (ts buses, feeders, nodes per feeder): up to > 500k variables; --full adds ~1.1M
SIZES = [(30, 5, 33), (100, 20, 33), (300, 60, 33), (600, 120, 33)]
FULL = [(1000, 250, 33)]


def one(buses: int, feeders: int, nodes: int) -> dict:
    s = flexnet.synthetic_system(buses, feeders, nodes_per_feeder=nodes, seed=0)
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        m = build_centralized(s)
        t1 = time.perf_counter()
        h = m.to_highspy()  # the direct hand-off linopy uses for io_api="direct"
        t2 = time.perf_counter()
        h.setOptionValue("output_flag", False)
        h.run()
        t3 = time.perf_counter()
    status = h.modelStatusToString(h.getModelStatus())
    lp = h.getLp()
    return {"ts_buses": buses, "feeders": feeders, "nodes": s.n("node"), "vars": m.nvars,
            "cons": m.ncons, "nonzeros": lp.a_matrix_.value_.__len__(),
            "build_s": round(t1 - t0, 3), "handoff_s": round(t2 - t1, 3),
            "solve_s": round(t3 - t2, 3),
            "overhead_pct": round(100 * (t2 - t0) / max(t3 - t2, 1e-9), 1),
            "peak_rss_mb": round(mem.peak, 1), "status": status}


def main(quick: bool = False, full: bool = False) -> pd.DataFrame:
    sizes = SIZES[:2] if quick else SIZES + (FULL if full else [])
    rows = []
    for size in tqdm(sizes, desc="centralized"):
        rows.append(one(*size))
        tqdm.write(str(rows[-1]))
    df = pd.DataFrame(rows)
    write(df, "centralized")
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(df.vars, df.build_s + df.handoff_s, "o-", label="build + hand-off")
    ax.loglog(df.vars, df.solve_s, "s-", label="HiGHS solve")
    ax.set_xlabel("variables")
    ax.set_ylabel("seconds")
    ax.set_title("centralized scheme, synthetic systems, 24 h")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(OUT / "centralized.png", dpi=120)
    return df


if __name__ == "__main__":
    main("--quick" in sys.argv, "--full" in sys.argv)
