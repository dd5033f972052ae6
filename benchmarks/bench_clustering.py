"""Canopy + K-medoids clustering time against the number of resources.

Synthetic resources: 8 features (like ``flexnet.vpp.FEATURES``) drawn from 6 Gaussian
groups. Above 5,000 resources K-medoids runs CLARA-style (5 samples of 5,000).

Usage: python benchmarks/bench_clustering.py [n ...]   (default 1000 10000 100000)
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from _common import PeakRSS, write
from tqdm.auto import tqdm

from flexnet.vpp import canopy, cluster


def main(sizes: tuple[int, ...] = (1_000, 10_000, 100_000)) -> pd.DataFrame:
    rows = []
    for n in tqdm(sizes, desc="sizes"):
        centres = np.random.default_rng(0).uniform(-6, 6, (6, 8))  # same groups at every n
        rng = np.random.default_rng(n)
        X = centres[rng.integers(0, 6, n)] + rng.normal(0, 1, (n, 8))
        with PeakRSS() as mem:
            t = time.perf_counter()
            c = canopy(X, seed=0)
            t_can = time.perf_counter() - t
            t = time.perf_counter()
            res = cluster(X, seed=0)
            t_all = time.perf_counter() - t
        rows.append({"resources": n, "k": int(c.centers.size), "canopy_s": round(t_can, 2),
                     "canopy+kmedoids_s": round(t_all, 2), "mode": "exact" if n <= 5000 else "CLARA",
                     "loss_per_point": round(res.loss / n, 3),
                     "peak_mb": round(mem.peak - mem.base, 1)})
    df = pd.DataFrame(rows)
    write(df, "clustering")
    return df


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or (1_000, 10_000, 100_000))
