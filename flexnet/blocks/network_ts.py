"""Transmission DC network: nodal balance with bus-angle or PTDF flows."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import xarray as xr
from scipy.sparse.csgraph import connected_components

from flexnet.blocks.common import TS_INJECTIONS, aggregate_vars, coords, identity, take
from flexnet.errors import DataError

if TYPE_CHECKING:
    import linopy

    from flexnet.grid.system import System

__all__ = ["add_ts_network", "incidence", "line_flows_ptdf", "ptdf", "ptdf_lmp", "ts_demand"]


def incidence(system: System) -> sp.csr_matrix:
    """Line × bus incidence matrix (+1 at the from bus, −1 at the to bus)."""
    ds = system.ds
    buses = ds.indexes["bus"]
    a = buses.get_indexer(ds.line_bus0.values)
    b = buses.get_indexer(ds.line_bus1.values)
    n_l = a.size
    return sp.csr_matrix((np.r_[np.ones(n_l), -np.ones(n_l)],
                          (np.r_[np.arange(n_l), np.arange(n_l)], np.r_[a, b])),
                         shape=(n_l, buses.size))


def _reference_buses(system: System) -> np.ndarray:
    """Positions of one reference bus per connected island; raise if islands exist."""
    A = incidence(system)
    n, labels = connected_components(A.T @ A, directed=False)
    if n > 1:
        sizes = np.bincount(labels)
        small = np.flatnonzero(labels == np.argmin(sizes))
        raise DataError(f"bus {system.ds.bus.values[small[0]]!r}: the transmission grid has "
                        f"{n} islands (smallest: {sizes.min()} buses); connect it or split it")
    return np.array([0])


def ptdf(system: System) -> xr.DataArray:
    """Power transfer distribution factors (line × bus), slack at the first bus, MW/MW."""
    ds = system.ds
    A = incidence(system)
    b = float(ds.attrs["base_mva"]) / ds.line_x.values
    B = (A.T @ sp.diags(b) @ A).tocsc()
    ref = _reference_buses(system)
    keep = np.setdiff1d(np.arange(B.shape[0]), ref)
    X = np.zeros(B.shape)
    X[np.ix_(keep, keep)] = np.linalg.inv(B[keep][:, keep].toarray())
    return xr.DataArray(sp.diags(b) @ A @ X, coords=[ds.indexes["line"], ds.indexes["bus"]])


def ts_demand(system: System, load: xr.DataArray | None = None,
              pcc: xr.DataArray | None = None) -> xr.DataArray:
    """Fixed demand per bus (snapshot, bus): TS loads plus fixed PCC draws (if given)."""
    ds = system.ds
    load = ds.load_p if load is None else load
    buses = ds.indexes["bus"]
    d = xr.DataArray(np.zeros((ds.sizes["snapshot"], buses.size)),
                     coords=[ds.indexes["snapshot"], buses])
    if system.n("load"):
        d = d + load.groupby(ds.load_bus.rename("bus")).sum().reindex(bus=buses, fill_value=0.0)
    if pcc is not None and system.n("dso"):
        d = d + pcc.groupby(ds.dso_bus.rename("bus")).sum().reindex(bus=buses, fill_value=0.0)
    return d.transpose("snapshot", "bus")


def _injection_terms(m: linopy.Model, system: System) -> list:
    ds = system.ds
    terms = [(m.variables[name], ds[field], sign)
             for name, field, sign in TS_INJECTIONS if name in m.variables]
    if "Bus-spill" in m.variables:  # over-generation slack of scenario checks (interval)
        terms.append((m.variables["Bus-spill"], identity(ds.indexes["bus"], "bus"), -1.0))
    return terms


def _injection(m: linopy.Model, system: System) -> linopy.LinearExpression:
    return aggregate_vars(_injection_terms(m, system), "bus", system.ds.indexes["bus"])


def add_ts_network(
    m: linopy.Model,
    system: System,
    formulation: str = "angle",
    *,
    load: xr.DataArray | None = None,
    pcc: xr.DataArray | None = None,
) -> int:
    """Add the DC network: nodal balance and line limits.

    Parameters
    ----------
    formulation : {"angle", "ptdf"}
        ``angle``: ``Bus-theta``, ``Line-flow``, ``Line-flow-def``
        (f = base/x · (θ_from − θ_to)), ``Bus-balance`` per bus (dual = LMP), reference
        angle ``Bus-theta-ref``.
        ``ptdf``: ``System-balance`` per snapshot and flows as PTDF · injections; the
        LMP is recovered as λ + Σ_l PTDF_lb (μ↑_l + μ↓_l).
    load : DataArray, optional
        TS demand (snapshot, load) overriding the forecast.
    pcc : DataArray, optional
        Fixed PCC draws (snapshot, dso) when the DSOs are not in the model.

    Both formulations add ``Line-flow-upper`` (f ≤ F̄) and ``Line-flow-lower`` (f ≥ −F̄).
    Injections are collected from the variables in :data:`TS_INJECTIONS`.
    """
    if not system.has_ts:
        return 0
    ds = system.ds
    demand = ts_demand(system, load, pcc)
    if formulation == "angle":
        _reference_buses(system)
        theta = m.add_variables(coords=coords(system, "snapshot", "bus"), name="Bus-theta")
        flow = m.add_variables(coords=coords(system, "snapshot", "line"), name="Line-flow")
        buses = ds.indexes["bus"]
        lines = ds.indexes["line"]
        b = float(ds.attrs["base_mva"]) / ds.line_x
        dtheta = (take(theta, "bus", ds.line_bus0.values, "line", lines)
                  - take(theta, "bus", ds.line_bus1.values, "line", lines))
        m.add_constraints(flow - b * dtheta == 0, name="Line-flow-def")
        balance = aggregate_vars([*_injection_terms(m, system), (flow, ds.line_bus0, -1.0),
                                  (flow, ds.line_bus1, 1.0)], "bus", buses)
        m.add_constraints(balance == demand, name="Bus-balance")
        is_ref = xr.DataArray(np.arange(buses.size) == 0, coords=[buses])
        m.add_constraints(theta == 0, name="Bus-theta-ref", mask=is_ref)
        m.add_constraints(flow <= ds.line_s_max, name="Line-flow-upper")
        m.add_constraints(flow >= -ds.line_s_max, name="Line-flow-lower")
    elif formulation == "ptdf":
        inj = _injection(m, system)
        H = ptdf(system)
        m.add_constraints(inj.sum("bus") == demand.sum("bus"), name="System-balance")
        # drop negligible factors so the rows stay as sparse as the physics allows
        H = H.where(np.abs(H) > 1e-10, 0.0)
        flow = (inj * H).sum("bus") - (demand * H).sum("bus")
        m.add_constraints(flow <= ds.line_s_max, name="Line-flow-upper")
        m.add_constraints(flow >= -ds.line_s_max, name="Line-flow-lower")
    else:
        raise ValueError(f"unknown TS formulation {formulation!r}; use 'angle' or 'ptdf'")
    return 0


def ptdf_lmp(m: linopy.Model, system: System) -> xr.DataArray:
    """Recover LMPs (snapshot, bus) from the duals of a PTDF model."""
    H = ptdf(system)
    lam = m.constraints["System-balance"].dual
    mu = m.constraints["Line-flow-upper"].dual + m.constraints["Line-flow-lower"].dual
    return (lam + (H * mu).sum("line")).transpose("snapshot", "bus")


def line_flows_ptdf(system: System, injection: xr.DataArray) -> xr.DataArray:
    """Flows (snapshot, line) for a net injection per bus (snapshot, bus)."""
    return (ptdf(system) * injection).sum("bus").transpose("snapshot", "line")

