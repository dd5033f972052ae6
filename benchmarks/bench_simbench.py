"""The SimBench case (EHV + 4 MV grids, one day of 2016): build, centralized and
hierarchical solves, the AC check of the plan and the AC-secured re-solve, with wall time
and peak memory of each step; the default case's AC check for comparison.

Run: python benchmarks/bench_simbench.py [--day 2016-01-15]
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd
from _common import PeakRSS, write

import flexnet
from flexnet.checks import ac_check, ac_secure
from flexnet.grid.simbench import DEFAULT_DAY, simbench_system

warnings.simplefilter("ignore")  # pandapower's numba notice


def step(rows: list, case: str, what: str, fn, children: bool = False):
    with PeakRSS(children=children) as mem:
        t0 = time.perf_counter()
        out = fn()
        sec = time.perf_counter() - t0
    rows.append({"case": case, "step": what, "seconds": round(sec, 1),
                 "peak_mb": round(mem.peak), "note": ""})
    print(rows[-1], flush=True)
    return out


def ac_note(ac) -> str:
    a = ac.attrs
    return (f"max |LinDistFlow − AC| {a['ac_max_v_error']:.4f} p.u., "
            f"{a['ac_voltage_violations']} AC voltage violations, "
            f"{a['ac_branch_overloads']} AC overloads")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--day", default=DEFAULT_DAY)
    a = p.parse_args()
    rows: list[dict] = []
    case = f"simbench {a.day}"
    s = step(rows, case, "build (read 5 grids, one day)", lambda: simbench_system(a.day))
    rows[-1]["note"] = repr(s)
    r = step(rows, case, "centralized", lambda: flexnet.solve(s))
    sm = r.summary().iloc[:, 0]
    rows[-1]["note"] = (f"{sm['status']}, cost {float(sm['total_cost']):,.0f} $, "
                        f"{float(sm['congested_line_hours']):.0f} congested line-hours")
    h = step(rows, case, "hierarchical (2 workers)",
             lambda: flexnet.solve(s, "hierarchical", workers=2), children=True)
    hs = h.summary().iloc[:, 0]
    rows[-1]["note"] = (f"{hs['status']}, cost {float(hs['total_cost']):,.0f} $ "
                        f"({float(hs['total_cost']) / float(sm['total_cost']) - 1:+.2e} vs "
                        f"centralized), {h.dataset.attrs.get('admm_iterations', '?')} iterations")
    ac = step(rows, case, "ac_check of the centralized plan", lambda: ac_check(r))
    rows[-1]["note"] = ac_note(ac)
    sec = step(rows, case, "ac_secure (centralized)", lambda: ac_secure(s))
    rows[-1]["note"] = f"{sec.dataset.attrs['ac_rounds']} re-solves; " + ac_note(ac_check(sec))
    d = flexnet.load_case()
    rd = flexnet.solve(d)
    ac = step(rows, "rts24-dso", "ac_check of the centralized plan", lambda: ac_check(rd))
    rows[-1]["note"] = ac_note(ac)
    sec = step(rows, "rts24-dso", "ac_secure (centralized)", lambda: ac_secure(d))
    rows[-1]["note"] = f"{sec.dataset.attrs['ac_rounds']} re-solves; " + ac_note(ac_check(sec))
    write(pd.DataFrame(rows), "simbench")


if __name__ == "__main__":
    main()
