"""Residual checkers: recompute every balance from a result and the system data.

Written independently of the model blocks (plain xarray on the solution), in the
spirit of PyPSA's consistency checks: a bug in a block shows up as a residual here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

if TYPE_CHECKING:
    from flexnet.grid.system import System
    from flexnet.results import Result

__all__ = ["residuals"]


def _by(values: xr.DataArray, owner: xr.DataArray, dim: str, index) -> xr.DataArray:
    return values.groupby(owner.rename(dim)).sum().reindex({dim: index}, fill_value=0.0)


def _prev(x: xr.DataArray, initial: xr.DataArray | float) -> xr.DataArray:
    out = x.shift(snapshot=1)
    return out.fillna(0.0) + xr.where(out.snapshot == out.snapshot[0], initial, 0.0)


def residuals(result: Result, system: System | None = None) -> dict[str, float]:
    """Largest absolute residual of every balance and limit the result must satisfy.

    Keys present depend on the system: ``ts_balance``, ``ds_balance_p``,
    ``ds_balance_q``, ``voltage_drop``, ``storage_soc``, ``fleet_energy``,
    ``building_thermal``, and limit violations (positive = violated)
    ``comfort_band``, ``fleet_departure``, ``line_limit``, ``branch_limit``,
    ``voltage_band``.
    """
    r = result.dataset
    system = system or result.system
    ds = system.ds
    out: dict[str, float] = {}
    if system.has_ts and "gen_p" in r:
        buses = ds.indexes["bus"]
        inj = _by(r.gen_p, ds.gen_bus, "bus", buses)
        if "wind_p" in r:
            inj = inj + _by(r.wind_p, ds.wind_bus, "bus", buses)
        if "load_shed" in r:
            inj = inj + _by(r.load_shed - ds.load_p, ds.load_bus, "bus", buses)
        pcc = r["pcc_schedule"] if "pcc_schedule" in r else r.get("pcc_p")
        if pcc is not None and system.has_ds:
            inj = inj - _by(pcc, ds.dso_bus, "bus", buses)
        net = (_by(r.line_flow, ds.line_bus0, "bus", buses)
               - _by(r.line_flow, ds.line_bus1, "bus", buses))
        out["ts_balance"] = float(np.abs(inj - net).max())
        out["line_limit"] = float((np.abs(r.line_flow) - ds.line_s_max).max())
    if system.has_ds and "branch_p" in r:
        nodes = ds.indexes["node"]
        cons = ds.node_p_load - r.get("node_shed", 0.0)
        for var, fld, sign in (("building_p", "building_node", 1), ("fleet_p", "fleet_node", 1),
                               ("storage_p", "storage_node", 1), ("der_p", "der_node", -1)):
            if var in r:
                cons = cons + sign * _by(r[var], ds[fld], "node", nodes)
        for q, (flow, pcc, demand) in enumerate((("branch_p", "pcc_p", cons),
                                                 ("branch_q", "pcc_q", ds.node_q_load))):
            inflow = (_by(r[flow], ds.branch_node1, "node", nodes)
                      + _by(r[pcc], ds.dso_root, "node", nodes))
            outflow = _by(r[flow], ds.branch_node0, "node", nodes)
            out["ds_balance_q" if q else "ds_balance_p"] = float(np.abs(inflow - outflow
                                                                         - demand).max())
        v2 = r.node_v**2
        k = 2.0 / ds.dso_v_nom.sel(dso=ds.branch_dso.values).values ** 2
        vc = v2.sel(node=ds.branch_node1.values).values
        vp = v2.sel(node=ds.branch_node0.values).values
        drop = vp - k * (ds.branch_r.values * r.branch_p.values + ds.branch_x.values
                         * r.branch_q.values)
        out["voltage_drop"] = float(np.abs(vc - drop).max())
        vmin = ds.dso_v_min.sel(dso=ds.node_dso.values).values
        vmax = ds.dso_v_max.sel(dso=ds.node_dso.values).values
        out["voltage_band"] = float(np.maximum(vmin - r.node_v.values,
                                               r.node_v.values - vmax).max())
        s = np.hypot(r.branch_p, r.branch_q)
        out["branch_limit"] = float((s - ds.branch_s_max).max())
    if "storage_soc" in r:
        e = ds.storage_e_max
        start = xr.where(ds.storage_cyclic, r.storage_soc.isel(snapshot=-1),
                         ds.storage_soc_init * e)
        gain = ds.storage_eta_c * r.storage_p_charge - r.storage_p_discharge / ds.storage_eta_d
        out["storage_soc"] = float(np.abs(r.storage_soc - _prev(r.storage_soc, start)
                                          - gain).max())
    if "fleet_energy" in r:
        gain = ds.fleet_eta * r.fleet_p_charge - r.fleet_p_discharge / ds.fleet_eta
        flow = ds.fleet_e_arrive - ds.fleet_e_depart
        out["fleet_energy"] = float(np.abs(r.fleet_energy - _prev(r.fleet_energy,
                                                                  ds.fleet_e_init)
                                           - gain - flow).max())
        # departing EVs carried their energy away and nothing went negative
        out["fleet_departure"] = float((-r.fleet_energy).max())
    if "building_temperature" in r:
        a = np.exp(-1.0 / (ds.building_r * ds.building_c))
        T = r.building_temperature
        model = a * _prev(T, ds.building_t_init) + (1 - a) * (
            ds.t_out + ds.building_eta * ds.building_r * r.building_p_hvac)
        out["building_thermal"] = float(np.abs(T - model).max())
        out["comfort_band"] = float(np.maximum(ds.building_t_min - T, T - ds.building_t_max).max())
    return out
