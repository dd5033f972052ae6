"""Time and memory of ``synthetic_system`` from small to 2,000 buses × 500 feeders.

Usage: python benchmarks/bench_synthetic.py [--quick]
"""

from __future__ import annotations

import sys
import time

import pandas as pd
from _common import PeakRSS, write
from tqdm import tqdm

import flexnet

SIZES = [(30, 5), (200, 50), (500, 100), (1000, 250), (2000, 500)]


def main(quick: bool = False) -> pd.DataFrame:
    rows = []
    for buses, feeders in tqdm(SIZES[:2] if quick else SIZES, desc="synthetic sizes"):
        with PeakRSS() as mem:
            t = time.perf_counter()
            s = flexnet.synthetic_system(buses, feeders, nodes_per_feeder=33, seed=0)
            build = time.perf_counter() - t
        rows.append({"ts_buses": buses, "feeders": feeders, "nodes": s.n("node"),
                     "assets": sum(s.n(e) for e in ("building", "fleet", "storage", "der")),
                     "build_s": round(build, 3), "peak_rss_mb": round(mem.peak, 1),
                     "delta_rss_mb": round(mem.peak - mem.base, 1),
                     "dataset_mb": round(s.ds.nbytes / 1e6, 1)})
    return write(pd.DataFrame(rows), "synthetic") and pd.DataFrame(rows)


if __name__ == "__main__":
    main("--quick" in sys.argv)
