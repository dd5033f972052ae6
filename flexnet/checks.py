"""Residual checkers: recompute every balance from a result and the system data.

Written independently of the model blocks (plain xarray on the solution), in the
spirit of PyPSA's consistency checks: a bug in a block shows up as a residual here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

if TYPE_CHECKING:
    from flexnet.grid.system import System
    from flexnet.results import Result

__all__ = ["ac_check", "ac_secure", "node_injections", "residuals"]


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


#: result variables that consume at DS nodes: (result name, node field, sign)
_DS_TERMS = [("building_p", "building_node", 1.0), ("fleet_p_charge", "fleet_node", 1.0),
             ("fleet_p_discharge", "fleet_node", -1.0), ("storage_p_charge", "storage_node", 1.0),
             ("storage_p_discharge", "storage_node", -1.0), ("der_p", "der_node", -1.0)]


def node_injections(result: Result, system: System | None = None) -> tuple[xr.DataArray,
                                                                            xr.DataArray]:
    """Net active and reactive load per DS node (snapshot, node) of a solved plan, MW and
    Mvar: inflexible load − shedding + every asset's consumption − DER output."""
    r = result.dataset
    ds = (system or result.system).ds
    nodes = ds.indexes["node"]
    p = ds.node_p_load - r.get("node_shed", 0.0)
    for var, field, sign in _DS_TERMS:
        if var in r and r[var].size:
            p = p + sign * _by(r[var], ds[field], "node", nodes)
    return p.transpose("snapshot", "node"), ds.node_q_load.transpose("snapshot", "node")


def ac_check(result: Result, system: System | None = None) -> xr.Dataset:
    """An AC power flow (pandapower, Newton–Raphson) of every feeder at every hour of a
    solved plan, at the plan's own node injections and substation voltages.

    All feeders go into one pandapower net (one ``ext_grid`` each at ``dso_v0``), solved
    once per snapshot. Returns ``ac_v`` (snapshot, node; p.u.), ``ac_v_error`` (|LinDistFlow
    − AC|), ``ac_branch_loading`` (snapshot, branch; apparent flow at the sending end /
    rating) and ``ac_losses`` (snapshot, dso; MW), with attrs ``ac_max_v_error``,
    ``ac_voltage_violations`` and ``ac_branch_overloads`` (entries outside the DSO's
    voltage band, or above the rating, by more than 1e-4) and ``ac_seconds``.

    Raises
    ------
    DataError
        If the result has no DS voltages (no feeders) or pandapower does not converge.
    """
    import time
    import warnings

    import pandapower as pp

    from flexnet.errors import DataError

    t0 = time.perf_counter()
    system = system or result.system
    r = result.dataset
    if system is None or "node_v" not in r:
        raise DataError("ac_check: the result has no feeders (no 'node_v') or no system")
    ds = system.ds
    nodes = ds.indexes["node"]
    node_dso = ds.node_dso.values
    v_nom = ds.dso_v_nom.sel(dso=node_dso).values
    p, q = node_injections(result, system)
    net = pp.create_empty_network(sn_mva=1.0)
    bus = pp.create_buses(net, nodes.size, vn_kv=v_nom, name=nodes.values)
    roots = nodes.get_indexer(ds.dso_root.values)
    for i, v0 in zip(roots, ds.dso_v0.values, strict=True):  # one per feeder (no vector API)
        pp.create_ext_grid(net, bus[i], vm_pu=float(v0))
    f, t = nodes.get_indexer(ds.branch_node0.values), nodes.get_indexer(ds.branch_node1.values)
    pp.create_lines_from_parameters(
        net, bus[f], bus[t], length_km=1.0, r_ohm_per_km=ds.branch_r.values,
        x_ohm_per_km=ds.branch_x.values, c_nf_per_km=0.0,
        max_i_ka=ds.branch_s_max.values / (np.sqrt(3) * v_nom[f]))
    load = pp.create_loads(net, bus, p_mw=0.0, q_mvar=0.0)
    n_t = ds.sizes["snapshot"]
    v = np.empty((n_t, nodes.size))
    loading = np.empty((n_t, f.size))
    pl = np.empty((n_t, f.size))
    for k in range(n_t):  # one AC power flow per hour over all feeders at once
        net.load.loc[load, "p_mw"] = p.values[k]
        net.load.loc[load, "q_mvar"] = q.values[k]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pp.runpp(net, algorithm="nr", init="dc" if k == 0 else "results", numba=False)
        except pp.LoadflowNotConverged as exc:
            raise DataError(f"ac_check: pandapower's AC power flow did not converge at snapshot "
                            f"{ds.snapshot.values[k]!r}") from exc
        v[k] = net.res_bus.vm_pu.to_numpy()
        loading[k] = np.hypot(net.res_line.p_from_mw, net.res_line.q_from_mvar).to_numpy() \
            / ds.branch_s_max.values
        pl[k] = net.res_line.pl_mw.to_numpy()
    snap = ds.indexes["snapshot"]
    out = xr.Dataset({
        "ac_v": (("snapshot", "node"), v),
        "ac_branch_loading": (("snapshot", "branch"), loading),
    }, coords={"snapshot": snap, "node": nodes, "branch": ds.indexes["branch"]})
    out["ac_v_error"] = np.abs(r["node_v"].transpose("snapshot", "node") - out.ac_v)
    losses = xr.DataArray(pl, coords=out.ac_branch_loading.coords)
    out["ac_losses"] = losses.groupby(ds.branch_dso.rename("dso")).sum().reindex(
        dso=ds.indexes["dso"], fill_value=0.0).transpose("snapshot", "dso")
    vmin = ds.dso_v_min.sel(dso=node_dso).values
    vmax = ds.dso_v_max.sel(dso=node_dso).values
    out.attrs.update(
        ac_max_v_error=float(out.ac_v_error.max()),
        ac_voltage_violations=int(((v < vmin - 1e-4) | (v > vmax + 1e-4)).sum()),
        ac_branch_overloads=int((loading > 1 + 1e-4).sum()),
        ac_min_v=float(v.min()), ac_losses_mwh=float(pl.sum()),
        ac_seconds=time.perf_counter() - t0)
    return out


def ac_secure(system: System, scheme: str = "centralized", *, max_rounds: int = 5,
              margin: float = 1e-4, **options) -> Result:
    """Solve, check the plan with :func:`ac_check`, and where the AC voltages or loadings
    break a limit that LinDistFlow kept, tighten that limit by the measured error and
    solve again, until the AC plan is within limits or ``max_rounds`` re-solves are spent.

    Per DSO, the voltage band shrinks by the largest LinDistFlow − AC gap on the violated
    side (plus ``margin``); an AC-overloaded branch's rating shrinks by the ratio of its AC
    to its LinDistFlow loading. The result carries the last AC check and the attrs
    ``ac_rounds`` (re-solves made) and ``ac_secure`` (1 if the AC plan is within limits).
    """
    from flexnet.api import solve
    from flexnet.grid.system import System as _System

    ds = system.ds.copy()
    rounds = 0
    while True:
        res = solve(_System(ds, validate=False), scheme, **options)
        ac = ac_check(res, system)  # against the user's limits, not the tightened ones
        bad = ac.attrs["ac_voltage_violations"] + ac.attrs["ac_branch_overloads"]
        if not bad or rounds >= max_rounds:
            break
        rounds += 1
        v_lin = res["node_v"].transpose("snapshot", "node")
        gap = (v_lin - ac.ac_v).groupby(ds.node_dso.rename("dso"))
        low = gap.max().max("snapshot").clip(min=0).reindex(dso=ds.dso.values)
        high = (-gap.min()).max("snapshot").clip(min=0).reindex(dso=ds.dso.values)
        vmin_ac = ac.ac_v.groupby(ds.node_dso.rename("dso")).min().min("snapshot")
        vmax_ac = ac.ac_v.groupby(ds.node_dso.rename("dso")).max().max("snapshot")
        under = vmin_ac.reindex(dso=ds.dso.values) < system.ds.dso_v_min - 1e-4
        over = vmax_ac.reindex(dso=ds.dso.values) > system.ds.dso_v_max + 1e-4
        ds["dso_v_min"] = ds.dso_v_min + xr.where(under, low + margin, 0.0)
        ds["dso_v_max"] = ds.dso_v_max - xr.where(over, high + margin, 0.0)
        if "branch_loading" in res.dataset:  # both loadings on the user's ratings
            lin = res["branch_loading"].transpose("snapshot", "branch") * (
                ds.branch_s_max / system.ds.branch_s_max)
            ratio = (ac.ac_branch_loading / lin.where(lin > 1e-9)).max("snapshot").fillna(1.0)
            hot = (ac.ac_branch_loading > 1 + 1e-4).any("snapshot")
            ds["branch_s_max"] = ds.branch_s_max / xr.where(
                hot, ratio.clip(min=1.0) * (1 + margin), 1.0)
    res.dataset.update(ac)
    res.dataset.attrs.update(ac.attrs, ac_rounds=rounds, ac_secure=int(bad == 0))
    if bad:
        logging.getLogger("flexnet").warning(
            "ac_secure: after %d re-solves the AC plan still breaks %d voltage limits and %d "
            "ratings (attrs ac_secure = 0)", rounds, ac.attrs["ac_voltage_violations"],
            ac.attrs["ac_branch_overloads"])
    return res
