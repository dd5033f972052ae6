"""Sequential scheme: the uncoordinated baseline (TSO first, DSOs repair afterwards).

1. **DSO forecast.** Each DSO's resources schedule themselves against the retail price
   on a copper plate (no voltage, branch or transformer limits): its forecast net load
   P⁰_pcc.
2. **TSO market.** The TSO clears energy and flexibility with P⁰_pcc as fixed demand;
   generators alone meet FR↑/FR↓ (no DSO flexibility is offered).
3. **DSO repair.** Each DSO redispatches its resources on its real grid. Deviations from
   P⁰_pcc are bought at LMP·(1 + premium) or sold at LMP·(1 − premium) (the balancing
   market); shedding at VOLL is the last resort.

``repair_cost`` is priced on one basis, the balancing market of step 3: the DSOs' cost
plus deviation settlement on their real grids minus the same on a copper plate, i.e. what
the grid limits the forecast ignored cost (>= 0). ``reoptimisation_gain`` is the step-1
DSO cost minus that copper-plate cost: what re-dispatching against the LMP instead of the
retail price saves (it can be of either sign).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import linopy
import xarray as xr

from flexnet.blocks.common import coords
from flexnet.coordination.centralized import (
    add_ds_side,
    add_ts_side,
    objective,
    resolve_formulation,
    solve_with_network,
)
from flexnet.results import extract, finalize
from flexnet.solver import new_model, run_highs

if TYPE_CHECKING:
    from flexnet.grid.system import System
    from flexnet.results import Result


def _ds_model(system: System, *, network: bool) -> tuple[linopy.Model, list]:
    m = new_model()
    return m, add_ds_side(m, system, reserve=False, network=network)


def _repair(system: System, p0: xr.DataArray, lmp: xr.DataArray, *, network: bool,
            options: dict[str, Any]) -> tuple[linopy.Model, Any, Any, Any, list]:
    """Step 3: the DSOs redispatch (on their grid, or on a copper plate as the reference)
    and settle deviations from P⁰ at LMP·(1 ± premium)."""
    m, costs = _ds_model(system, network=network)
    c = coords(system, "snapshot", "dso")
    up = m.add_variables(lower=0, coords=c, name="Pcc-deviation-up")
    down = m.add_variables(lower=0, coords=c, name="Pcc-deviation-down")
    m.add_constraints(m.variables["Pcc-p"] - up + down == p0, name="Pcc-schedule")
    prem = float(system.ds.attrs["balancing_premium"])
    balancing = (lmp * (1 + prem) * up).sum() - (lmp * (1 - prem) * down).sum()
    objective(m, [*costs, balancing])
    run_highs(m, scheme="sequential/dso-repair" + ("" if network else "-copper-plate"),
              system=system, options=options)
    return m, up, down, balancing, costs


def _value(costs: list) -> float:
    return float(sum(c.solution.sum() if hasattr(c, "solution") else c for c in costs))


def _tso_model(system: System, formulation: str, pcc=None):
    """``build(monitored)`` of the TSO market (see solve_with_network)."""
    def build(monitored):
        m = new_model()
        objective(m, add_ts_side(m, system, formulation=formulation, pcc=pcc,
                                 monitored=monitored))
        return m
    return build


def solve_sequential(system: System, *, formulation: str = "auto",
                     **options: Any) -> Result:
    """Solve the sequential baseline; see the module docstring for the three steps."""
    ds = system.ds
    extra: dict[str, Any] = {}
    formulation = resolve_formulation(formulation, system, "sequential")
    if not system.has_ds:  # nothing to coordinate: the TSO market alone
        m, status, info = solve_with_network(_tso_model(system, formulation), system,
                                             formulation, scheme="sequential", options=options)
        return finalize(extract(m, system), system, scheme="sequential", status=status,
                        objective=float(m.objective.value), extra=info)
    # 1. DSO forecast on a copper plate at the retail price
    price = ds.retail_price if system.has_ts else ds.pcc_price
    m1, c1 = _ds_model(system, network=False)
    objective(m1, [*c1, (price * m1.variables["Pcc-p"]).sum()])
    run_highs(m1, scheme="sequential/dso-forecast", system=system, options=options)
    p0 = m1.variables["Pcc-p"].solution
    forecast_cost = _value(c1)
    # 2. TSO market with the DSO forecast as fixed demand
    if system.has_ts:
        m2, status, info = solve_with_network(_tso_model(system, formulation, p0), system,
                                              formulation, scheme="sequential/tso",
                                              options=options, pcc=p0)
        extra.update(info)
        ts_res = extract(m2, system, pcc_fixed=p0)
        lmp = ts_res["bus_lmp"].sel(bus=ds.dso_bus.values).rename(bus="dso").assign_coords(
            dso=ds.dso.values)
        ts_cost = float(m2.objective.value)
    else:
        ts_res, ts_cost, status = xr.Dataset(), 0.0, "optimal"
        lmp = ds.pcc_price * xr.ones_like(p0)
    # 3. DSO repair on the real grid, deviations priced on the balancing market
    m3, up, down, balancing, c3 = _repair(system, p0, lmp, network=True, options=options)
    ds_res = extract(m3, system)
    prem = float(ds.attrs["balancing_premium"])
    if system.has_ts:  # the TSO paid for P⁰ in its market; deviations settle at balancing
        bal = float(balancing.solution.sum())
    else:  # feeder-only: energy is bought at pcc_price; only the premium is balancing
        bal = float((prem * ds.pcc_price * (up.solution + down.solution)).sum())
    # the repair's cost on one price basis: the same balancing market on a copper plate is
    # the reference, so the difference is what the grid's limits cost (>= 0); the forecast
    # plan's re-optimisation against the LMP is reported apart
    m3c, _, _, balancing_c, c3c = _repair(system, p0, lmp, network=False, options=options)
    plate = _value(c3c) + float(balancing_c.solution.sum())
    extra.update(balancing_cost=bal,
                 repair_cost=_value(c3) + float(balancing.solution.sum()) - plate,
                 reoptimisation_gain=forecast_cost - plate,
                 pcc_deviation_mwh=float((up.solution + down.solution).sum()))
    res = xr.merge([ts_res, ds_res], compat="override", join="outer")
    res["pcc_schedule"] = p0
    res.attrs["balancing_cost"] = bal
    objective_value = ts_cost + _value(c3) + bal
    if not system.has_ts:
        objective_value += float((ds.pcc_price * ds_res["pcc_p"]).sum())
    return finalize(res, system, scheme="sequential", status=status,
                    objective=objective_value, extra=extra)
