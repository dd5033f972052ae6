"""The same TS market in PyPSA (run by bench_ts.py in its own venv, ``make bench-ts``).

Reads the plain netCDF that bench_ts.py exports from a flexnet System and builds the LP
flexnet's centralized scheme solves on a TS-only system: DC lines (x in p.u. on
base_mva, so PyPSA's x = x / base with v_nom = 1), generators with ramp limits, wind
curtailable at zero cost, VOLL shedding per load (a generator at the load's bus), and —
through ``extra_functionality`` — up/down reserves: p + r↑ ≤ P̄, p − r↓ ≥ P̲, r ≤ ramp
where the ramp binds, Σ r↑ ≥ FR↑, Σ r↓ ≥ FR↓, cost c↑ r↑ + c↓ r↓.

Prints one JSON line: build (model creation) and solve seconds, peak RSS, objective.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np
import pandas as pd
import xarray as xr


def main(path: str) -> None:
    import pypsa

    t0 = time.perf_counter()
    d = xr.open_dataset(path).load()
    base = float(d.attrs["base_mva"])
    snaps = pd.RangeIndex(d.sizes["snapshot"])
    n = pypsa.Network()
    n.set_snapshots(snaps)
    n.add("Bus", d.bus.values.astype(str), v_nom=1.0)
    # phase shifters as transformers (PyPSA's phase_shift in degrees, MATPOWER's sign
    # convention; x per unit on s_nom); everything else as lines (x in Ω at v_nom = 1)
    shift = d.line_shift.values if "line_shift" in d else np.zeros(d.sizes["line"])
    ln, tr = shift == 0, shift != 0
    names = d.line.values.astype(str)
    n.add("Line", names[ln], bus0=d.line_bus0.values.astype(str)[ln],
          bus1=d.line_bus1.values.astype(str)[ln], x=d.line_x.values[ln] / base, r=0.0,
          s_nom=d.line_s_max.values[ln])
    if tr.any():
        s_nom = d.line_s_max.values[tr]
        n.add("Transformer", names[tr], bus0=d.line_bus0.values.astype(str)[tr],
              bus1=d.line_bus1.values.astype(str)[tr], x=d.line_x.values[tr] / base * s_nom,
              r=0.0, s_nom=s_nom, phase_shift=shift[tr])
    gens = d.gen.values.astype(str)
    p_max = d.gen_p_max.values
    ramp = d.gen_ramp.values
    binds = ramp < p_max - d.gen_p_min.values
    n.add("Generator", gens, bus=d.gen_bus.values.astype(str), p_nom=p_max,
          p_min_pu=d.gen_p_min.values / p_max, marginal_cost=d.gen_cost.values,
          ramp_limit_up=np.where(binds, ramp / p_max, np.nan),
          ramp_limit_down=np.where(binds, ramp / p_max, np.nan))
    if "wind" in d.dims:
        w = d.wind.values.astype(str)
        cap = np.maximum(d.wind_p.max("snapshot").values, 1e-6)
        n.add("Generator", [f"wind {i}" for i in w], bus=d.wind_bus.values.astype(str),
              p_nom=cap, marginal_cost=0.0,
              p_max_pu=pd.DataFrame(d.wind_p.values / cap, index=snaps,
                                    columns=[f"wind {i}" for i in w]))
    loads = d["load"].values.astype(str)  # d.load is Dataset.load()
    lp = pd.DataFrame(d.load_p.values, index=snaps, columns=loads)
    n.add("Load", loads, bus=d.load_bus.values.astype(str), p_set=lp)
    peak = np.maximum(lp.max().to_numpy(), 1e-6)
    shed = [f"shed {i}" for i in loads]
    n.add("Generator", shed, bus=d.load_bus.values.astype(str), p_nom=peak,
          marginal_cost=float(d.attrs["voll"]),
          p_max_pu=pd.DataFrame(lp.to_numpy() / peak, index=snaps, columns=shed))

    def reserves(n, snapshots):
        m = n.model
        p = m.variables["Generator-p"].sel(name=gens)
        upper = xr.DataArray(np.where(binds, ramp, np.inf), coords={"name": gens})
        ru = m.add_variables(lower=0, upper=upper.broadcast_like(p.labels), name="r-up")
        rd = m.add_variables(lower=0, upper=upper.broadcast_like(p.labels), name="r-down")
        pm = xr.DataArray(p_max, coords={"name": gens})
        pmin = xr.DataArray(d.gen_p_min.values, coords={"name": gens})
        m.add_constraints(p + ru <= pm, name="r-up-cap")
        m.add_constraints(p - rd >= pmin, name="r-down-cap")
        fr_up = xr.DataArray(d.fr_up.values, coords={"snapshot": snapshots})
        fr_dn = xr.DataArray(d.fr_down.values, coords={"snapshot": snapshots})
        m.add_constraints(ru.sum("name") >= fr_up, name="r-up-req")
        m.add_constraints(rd.sum("name") >= fr_dn, name="r-down-req")
        cu = xr.DataArray(d.gen_cost_r_up.values, coords={"name": gens})
        cd = xr.DataArray(d.gen_cost_r_down.values, coords={"name": gens})
        m.objective += (cu * ru).sum() + (cd * rd).sum()

    t_data = time.perf_counter() - t0
    t1 = time.perf_counter()
    m = n.optimize.create_model()
    reserves(n, n.snapshots)
    t_build = time.perf_counter() - t1
    t2 = time.perf_counter()
    status, cond = n.optimize.solve_model(solver_name="highs", threads=1, output_flag=False)
    t_solve = time.perf_counter() - t2
    print(json.dumps({"tool": "pypsa " + pypsa.__version__, "data_s": t_data,
                      "build_s": t_build, "solve_s": t_solve, "status": cond,
                      "objective": float(m.objective.value),
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3}))


if __name__ == "__main__":
    main(sys.argv[1])
