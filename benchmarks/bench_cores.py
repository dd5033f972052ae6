"""How much two busy cores slow each other down: the ceiling for any 2-worker speed-up.

Two independent jobs are timed alone (one process) and together (two processes started
at a barrier), with no dask and no communication:

- ``python loop``: a pure-Python integer loop (no memory traffic),
- ``admm warm re-solve``: one hierarchical DSO agent (12 feeders × 33 nodes, 24 h) re-solved
  warm at changed prices, as every ADMM iteration does,
- ``cold LP solve``: the same agent's LP solved from scratch, as an interval scenario is.

``ceiling`` = 2 × alone / together is the best speed-up two workers can reach on this
machine for that job; a parallel run is measured against it (docs/scaling.md).

Usage: python benchmarks/bench_cores.py [repeats]   (default 15)
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from _common import write


def _python_loop(seed: int) -> Callable[[int], list[float]]:
    def run(repeats: int) -> list[float]:
        out = []
        for _ in range(repeats):
            t = time.perf_counter()
            x = 0
            for i in range(5_000_000):
                x += i
            out.append(time.perf_counter() - t)
        return out

    return run


def _agent():
    import flexnet
    from flexnet.coordination.hierarchical import EXCHANGE, Subproblem, _groups

    s = flexnet.synthetic_system(200, 100, seed=0)
    group = _groups(s, None)[0]  # both processes solve the same model
    agent = Subproblem("dso", s.select(group).ds, "angle", {"threads": 1})
    agent.build()
    shape = (len(EXCHANGE), s.n("snapshot"), len(group))
    agent.step(np.zeros(shape), np.zeros(shape), 0.1)
    return agent, shape


def _warm(seed: int) -> Callable[[int], list[float]]:
    agent, shape = _agent()
    rng = np.random.default_rng(seed)

    def run(repeats: int) -> list[float]:
        return [agent.step(rng.normal(0, 5, shape), rng.normal(0, 1, shape), 0.1)["seconds"]
                for _ in range(repeats)]

    return run


def _cold(seed: int) -> Callable[[int], list[float]]:
    agent, _ = _agent()
    h = agent.lp.h

    def run(repeats: int) -> list[float]:
        out = []
        for _ in range(max(repeats // 3, 3)):
            h.clearSolver()
            t = time.perf_counter()
            h.run()
            out.append(time.perf_counter() - t)
        return out

    return run


JOBS = {"python loop": _python_loop, "admm warm re-solve": _warm, "cold LP solve": _cold}


def _run(job: str, seed: int, repeats: int, barrier, queue) -> None:
    run = JOBS[job](seed)  # set-up (model builds) before the barrier, untimed
    if barrier is not None:
        barrier.wait()
    queue.put(float(np.median(run(repeats))))


def main(repeats: int = 15) -> pd.DataFrame:
    # as in dask's workers (its nanny's pre-spawn environment): otherwise OpenBLAS's idle
    # threads spin ≈ 0.1 s after every numpy dot product and steal the other core
    os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    ctx = mp.get_context("spawn")
    rows = []
    for job in JOBS:
        queue = ctx.Queue()
        alone_k = []
        for k in (0, 1):  # the same two jobs as below, one after the other
            p = ctx.Process(target=_run, args=(job, k, repeats, None, queue))
            p.start()
            alone_k.append(queue.get())
            p.join()
        alone = float(np.mean(alone_k))
        barrier = ctx.Barrier(2)
        ps = [ctx.Process(target=_run, args=(job, k, repeats, barrier, queue)) for k in (0, 1)]
        for p in ps:
            p.start()
        together = float(np.mean([queue.get(), queue.get()]))
        for p in ps:
            p.join()
        rows.append({"job": job, "alone_s": round(alone, 4), "together_s": round(together, 4),
                     "slowdown_pct": round(100 * (together / alone - 1), 1),
                     "ceiling": round(2 * alone / together, 2)})
    df = pd.DataFrame(rows)
    write(df, "cores")
    return df


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
