"""Size sweep per scheme: model size, build / hand-off / solve seconds and peak memory.

Every solve a scheme makes is recorded with :func:`flexnet.solver.record_stats` (the
hierarchical scheme reports its agents' totals in its attrs), so the table splits each
run into linopy build, linopy ↔ HiGHS hand-off and HiGHS solve time.

Usage::

    python benchmarks/bench_sweep.py                      # every scheme, its default ladder
    python benchmarks/bench_sweep.py --scheme hierarchical --max-feeders 500
    python benchmarks/bench_sweep.py --scheme hierarchical --min-feeders 250 --max-feeders 250
    python benchmarks/bench_sweep.py --smoke              # toy size, 6 h (the test suite)
    python benchmarks/bench_sweep.py --scheme centralized --formulation ptdf --name ptdf

Rows of schemes and sizes a run does not cover stay in the results file, so one scheme
can be re-run alone.

Columns: ``vars``/``cons``/``nonzeros`` are the largest model the scheme solved (the sum
over agents for hierarchical); ``build_s``, ``handoff_s`` and ``solve_s`` are summed over
all its solves; ``overhead_pct`` = (build + hand-off) / solve.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from _common import OUT, PeakRSS, write

import flexnet
from flexnet.solver import record_stats
from flexnet.uncertainty import solve_interval

#: (TS buses, feeders × 33 nodes), from toy to the issue's target
LADDER = [(30, 5), (100, 20), (300, 60), (600, 120), (1000, 250), (2000, 500)]
#: the largest feeder count each scheme runs by default, so that the whole sweep takes
#: about an hour here (centralized 600 × 120 solves in ≈ 2.5 min; nested is a MILP and
#: stays on the toy size). The 2,000 × 500 hierarchical point is bench_large.py; raise
#: a scheme's ladder with --max-feeders.
LIMIT = {"centralized": 120, "sequential": 120, "hierarchical": 250, "interval": 60,
         "nested": 5}
OPTIONS = {"hierarchical": {"progress": False, "max_iter": 300},
           "interval": {"parallel": False},
           "nested": {"time_limit": 120}}


def one(scheme: str, buses: int, feeders: int, snapshots: int = 24,
        options: dict | None = None) -> dict:
    """Run one scheme on one synthetic size and summarise its solves."""
    s = flexnet.synthetic_system(buses, feeders, snapshots=snapshots, seed=0)
    with PeakRSS() as mem, record_stats() as stats, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # max_iterations is in the table
        t0 = time.perf_counter()
        run = (lambda s, **o: solve_interval(s, **o)) if scheme == "interval" else (
            lambda s, **o: flexnet.solve(s, scheme, allow_suboptimal=True, **o))
        r = run(s, **(options or {})).dataset
        wall = time.perf_counter() - t0
    a = r.attrs
    if scheme.startswith("hierarchical"):
        size = {"vars": a["admm_vars"], "cons": a["admm_cons"], "nonzeros": a["admm_nonzeros"]}
        build, handoff, solve = (a["admm_build_s"] - a["admm_handoff_s"], a["admm_handoff_s"],
                                 a["admm_solve_s"])
        models = a["admm_subproblems"]
    else:
        df = pd.DataFrame(stats)
        big = df.loc[df.vars.idxmax()]
        size = {"vars": int(big.vars), "cons": int(big.cons), "nonzeros": int(big.nonzeros)}
        build, handoff, solve = df.build_s.sum(), df.handoff_s.sum(), df.solve_s.sum()
        models = len(df)
    return {"scheme": scheme, "formulation": a.get("formulation", "-"), "ts_buses": buses,
            "feeders": feeders, "nodes": s.n("node"), "hours": snapshots,
            "models": models, **size, "build_s": round(build, 2),
            "handoff_s": round(handoff, 2), "solve_s": round(solve, 2),
            "wall_s": round(wall, 1),
            "overhead_pct": round(100 * (build + handoff) / max(solve, 1e-9), 1),
            "peak_rss_mb": round(mem.peak, 0), "status": a["status"],
            "total_cost": round(a["total_cost"], 1)}


def main(schemes: list[str], max_feeders: int | None = None, smoke: bool = False,
         name: str = "sweep", min_feeders: int = 0, **extra) -> pd.DataFrame:
    rows = []
    for scheme in schemes:
        cap = LADDER[0][1] if smoke else (max_feeders or LIMIT[scheme])
        for buses, feeders in LADDER:
            if feeders > cap:
                break
            if feeders < min_feeders:
                continue
            # the smoke test (tests/test_benchmarks.py) runs 6 hours to stay in seconds
            # a fresh process per run, so peak memory is that run's own
            with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
                rows.append(ex.submit(one, scheme, buses, feeders, 6 if smoke else 24,
                                      OPTIONS.get(scheme, {}) | extra).result())
            print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    if smoke:
        return df
    old = OUT / f"{name}.csv"
    if old.exists():  # keep the rows of schemes and sizes this run did not cover
        prev = pd.read_csv(old)
        key = ["scheme", "ts_buses", "feeders"]
        done = prev.set_index(key).index.isin(df.set_index(key).index)
        order = {s: i for i, s in enumerate(LIMIT)}
        df = pd.concat([prev[~done], df], ignore_index=True)
        df = df.sort_values(["scheme", "feeders"], key=lambda c: c.map(order) if c.name ==
                            "scheme" else c, kind="stable", ignore_index=True)
    write(df, name)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for scheme, g in df.groupby("scheme", sort=False):
        ax[0].loglog(g.vars, g.solve_s, "o-", label=f"{scheme}: solve")
        ax[0].loglog(g.vars, g.build_s + g.handoff_s, "x--", label=f"{scheme}: build + hand-off")
        ax[1].loglog(g.vars, g.peak_rss_mb, "o-", label=scheme)
    ax[0].set(xlabel="variables", ylabel="seconds", title="time against model size")
    ax[1].set(xlabel="variables", ylabel="peak RSS (MB)", title="memory against model size")
    for a in ax:
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / f"{name}.png", dpi=120)
    return df


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scheme", action="append", choices=list(LIMIT),
                   help="scheme(s) to sweep (default: all)")
    p.add_argument("--max-feeders", type=int, help="stop the ladder above this many feeders")
    p.add_argument("--min-feeders", type=int, default=0,
                   help="skip the ladder's sizes below this many feeders")
    p.add_argument("--smoke", action="store_true", help="the toy size only, no files")
    p.add_argument("--name", default="sweep", help="output file stem in benchmarks/results")
    p.add_argument("--formulation", choices=["angle", "ptdf"],
                   help="TS network formulation (default: each scheme's own)")
    args = p.parse_args()
    extra = {"formulation": args.formulation} if args.formulation else {}
    main(args.scheme or list(LIMIT), args.max_feeders, args.smoke, args.name, args.min_feeders,
         **extra)
