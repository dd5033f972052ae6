"""VPP market access: TVPPs in the wholesale market, DVPPs in the DSO's local market.

Our reconstruction of the market design behind seed 003's classification (Cai et al.
2025: TVPPs serve the transmission-level market, DVPPs the distribution-level one); the
steps, prices and settlement rules below are flexnet's, stated so that classification is
a market choice with measurable consequences (docs/vpp.md):

1. **DSO forecast.** Each DSO forecasts the net load of its inflexible demand and its
   DVPP members on a copper plate at the retail price (as step 1 of ``sequential``):
   P⁰_D.
2. **Wholesale market.** The TSO clears energy and reserves with P⁰_D as fixed demand and
   the TVPPs' aggregated offers: every TVPP member's device model, on a copper plate per
   DSO (no voltage, branch or transformer limits: the wholesale market does not see the
   feeders). Result: the TVPPs' schedules x_T (MW per node) and LMPs.
3. **DSO local market.** On its real grid (LinDistFlow), each DSO redispatches its DVPP
   members freely and the TVPP members only against payment: every MW moved from x_T at a
   node is paid LMP · ``balancing_premium`` (redispatch), and the PCC's deviation from
   P⁰_D + x_T settles on the balancing market at LMP · (1 ± premium); shedding at VOLL is
   the last resort.

With no TVPP this is exactly ``sequential``; the joint optimum (``centralized``) bounds
every variant from below. ``redispatch_cost`` and ``redispatch_mwh`` say what the
wholesale market's blindness to the feeders costs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from flexnet.blocks.common import DS_CONSUMPTION, aggregate, coords
from flexnet.coordination.centralized import add_ds_side, add_ts_side, objective
from flexnet.coordination.centralized import resolve_formulation as _resolve
from flexnet.coordination.sequential import _value
from flexnet.errors import DataError
from flexnet.results import extract, finalize
from flexnet.solver import new_model, run_highs

if TYPE_CHECKING:
    import linopy

    from flexnet.grid.system import System
    from flexnet.results import Result

__all__ = ["solve_vpp_market"]

#: the asset dims a VPP can hold
ASSETS = ("building", "fleet", "storage", "der")
#: result variables of the TS side (the wholesale market's part of the result)
_TS_DIMS = {"snapshot", "bus", "line", "gen", "wind", "load"}


def _members(system: System, keep: dict[str, np.ndarray], loads: bool) -> System:
    """The system with only the assets where ``keep`` holds (and no node load unless
    ``loads``)."""
    from flexnet.grid.system import System

    ds = system.ds.isel({d: np.flatnonzero(keep[d]) for d in ASSETS if d in keep})
    if not loads:
        for v in ("node_p_load", "node_q_load"):
            ds[v] = xr.zeros_like(ds[v])
    return System(ds, validate=False)


def _draw(m: linopy.Model, system: System, keep: dict[str, np.ndarray]) -> Any:
    """Net draw (snapshot, node) of the assets where ``keep`` holds."""
    ds, nodes = system.ds, system.ds.indexes["node"]
    terms = []
    for name, field, sign in DS_CONSUMPTION:
        dim = field.removesuffix("_node")
        if name in m.variables and dim in keep and keep[dim].any():
            on = xr.DataArray(keep[dim], coords=[ds.indexes[dim]])
            terms.append(aggregate((sign * m.variables[name]).where(on), ds[field], "node",
                                   nodes))
    return sum(terms[1:], terms[0]) if terms else None


def _split(system: System, vpp: bool | pd.DataFrame) -> tuple[pd.DataFrame | None,
                                                              dict[str, np.ndarray]]:
    """The classification table and the TVPP mask of every asset dim."""
    from flexnet.coordination.hierarchical import _masks
    from flexnet.vpp import classify

    table = None if vpp is False else (classify(system) if vpp is True else vpp)
    masks = _masks(system, table) if table is not None else None
    return table, masks or {d: np.zeros(system.ds.sizes[d], dtype=bool)
                            for d in ASSETS if d in system.ds.dims}


def solve_vpp_market(system: System, *, vpp: bool | pd.DataFrame = True,
                     formulation: str = "auto", **options: Any) -> Result:
    """Clear the wholesale market with the TVPPs, then each DSO's local market.

    Parameters
    ----------
    vpp : bool or DataFrame
        ``True``: classify with :func:`flexnet.vpp.classify`; a DataFrame: that table
        (its ``vpp_class`` column says TVPP or DVPP per asset); ``False``: every resource
        is a DVPP (then the scheme is ``sequential``).
    formulation : {"auto", "angle", "ptdf"}
        The TS network (``auto``: ``angle``; the wholesale market has no lazy line
        limits yet).
    **options
        Solver options, as for ``sequential``.

    Returns
    -------
    Result
        The wholesale TS dispatch and the DSOs' final dispatch, with attrs
        ``wholesale_cost``, ``redispatch_cost``, ``redispatch_mwh``, ``balancing_cost``,
        ``pcc_deviation_mwh``, ``vpp_tvpp_members`` and ``vpp_dvpp_members``.
    """
    if not (system.has_ts and system.has_ds):
        raise DataError(f"system {system.name!r}: the vpp-market scheme needs a TS and at "
                        "least one DSO")
    formulation = _resolve(formulation, system, "vpp-market", lazy=False)
    ds = system.ds
    table, tvpp = _split(system, vpp)
    dvpp = {d: ~mask for d, mask in tvpp.items()}
    # 1. DSO forecast of the inflexible load and the DVPPs, copper plate, retail price
    m1 = new_model()
    c1 = add_ds_side(m1, _members(system, dvpp, loads=True), reserve=False, network=False)
    objective(m1, [*c1, (ds.retail_price * m1.variables["Pcc-p"]).sum()])
    run_highs(m1, scheme="vpp-market/dso-forecast", system=system, options=options)
    p0_d = m1.variables["Pcc-p"].solution
    # 2. wholesale market: the TS and the TVPPs' devices on a copper plate per DSO
    tv = _members(system, tvpp, loads=False)
    m2 = new_model()
    c_tv = add_ds_side(m2, tv, reserve=False, network=False)
    c_ts = add_ts_side(m2, system, formulation=formulation, pcc=p0_d)
    objective(m2, [*c_ts, *c_tv])
    status = run_highs(m2, scheme="vpp-market/wholesale", system=system, options=options)
    wholesale = float(m2.objective.value)
    p_tv = m2.variables["Pcc-p"].solution
    x_t = _draw(m2, tv, {d: np.ones(tv.ds.sizes[d], dtype=bool) for d in tvpp})
    x_t = x_t.solution if x_t is not None else None
    ts_res = extract(m2, system, pcc_fixed=p0_d + p_tv)
    ts_res = ts_res[[v for v in ts_res.data_vars if set(ts_res[v].dims) <= _TS_DIMS]]
    lmp = ts_res["bus_lmp"].sel(bus=ds.dso_bus.values).rename(bus="dso").assign_coords(
        dso=ds.dso.values)
    # 3. DSO local market on the real grid: DVPPs free, TVPPs moved against payment
    m3 = new_model()
    c3 = add_ds_side(m3, system, reserve=False)
    prem = float(ds.attrs["balancing_premium"])
    c = coords(system, "snapshot", "dso")
    up = m3.add_variables(lower=0, coords=c, name="Pcc-deviation-up")
    down = m3.add_variables(lower=0, coords=c, name="Pcc-deviation-down")
    m3.add_constraints(m3.variables["Pcc-p"] - up + down == p0_d + p_tv, name="Pcc-schedule")
    balancing = (lmp * (1 + prem) * up).sum() - (lmp * (1 - prem) * down).sum()
    costs = [*c3, balancing]
    moved = None
    if x_t is not None:
        node_lmp = lmp.sel(dso=ds.node_dso.values).rename(dso="node").assign_coords(
            node=ds.node.values)
        cn = coords(system, "snapshot", "node")
        more = m3.add_variables(lower=0, coords=cn, name="Tvpp-redispatch-up")
        less = m3.add_variables(lower=0, coords=cn, name="Tvpp-redispatch-down")
        m3.add_constraints(_draw(m3, system, tvpp) - more + less == x_t,
                           name="Tvpp-schedule")
        moved = more + less
        costs.append((prem * np.abs(node_lmp) * moved).sum())
    objective(m3, costs)
    run_highs(m3, scheme="vpp-market/dso-local", system=system, options=options)
    ds_res = extract(m3, system)
    bal = float(balancing.solution.sum())
    redispatch = float(costs[-1].solution.sum()) if moved is not None else 0.0
    res = xr.merge([ts_res, ds_res], compat="override", join="outer")
    res["pcc_schedule"] = (p0_d + p_tv).assign_attrs(
        units="MW", long_name="PCC schedule cleared in the wholesale market")
    res.attrs.update(balancing_cost=bal, redispatch_cost=redispatch)
    ts_cost = wholesale - _value(c_tv)  # the TVPPs' device costs count once, in step 3
    n_tv = int(sum(m.sum() for m in tvpp.values()))
    n_all = int(sum(m.size for m in tvpp.values()))
    extra = {"wholesale_cost": wholesale, "balancing_cost": bal,
             "redispatch_cost": redispatch,
             "redispatch_mwh": float(moved.solution.sum()) if moved is not None else 0.0,
             "pcc_deviation_mwh": float((up.solution + down.solution).sum()),
             "vpp_tvpp_members": n_tv, "vpp_dvpp_members": n_all - n_tv,
             "vpp_classification": int(table is not None)}
    if table is not None and "k" in table.attrs:
        extra["vpp_k"] = table.attrs["k"]
    return finalize(res, system, scheme="vpp-market", status=status,
                    objective=ts_cost + _value(c3) + bal + redispatch, extra=extra)
