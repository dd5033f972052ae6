"""Distribution grids: LinDistFlow over all feeders at once, and the PCC exchange."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from flexnet.blocks.common import DS_CONSUMPTION, aggregate_vars, coords, identity, take

if TYPE_CHECKING:
    import linopy

    from flexnet.grid.system import System

__all__ = ["FACETS", "add_distribution", "consumption_terms", "polygon"]

FACETS = 8


def polygon() -> tuple[xr.DataArray, xr.DataArray, float]:
    """cos/sin of the facet normals and the inscribed-polygon factor cos(π/n).

    ``cos_k·P + sin_k·Q ≤ S̄·cos(π/n)`` for all k keeps (P, Q) inside the disc of radius
    S̄ (vertices on the circle), so a satisfied polygon never overloads the branch.
    """
    ang = 2 * np.pi * np.arange(FACETS) / FACETS
    f = xr.DataArray(np.arange(FACETS), dims="_facet")
    # round so cos(π/2) is an exact 0, not 6e-17 (HiGHS warns about tiny coefficients)
    cos, sin = np.round(np.cos(ang), 15), np.round(np.sin(ang), 15)
    return (xr.DataArray(cos, coords=[f]), xr.DataArray(sin, coords=[f]),
            float(np.cos(np.pi / FACETS)))


def consumption_terms(m: linopy.Model, system: System) -> list:
    """(variable, node mapping, sign) of every controllable consumption at DS nodes."""
    ds = system.ds
    nodes = ds.indexes["node"]
    terms = [(m.variables[name], ds[field], sign)
             for name, field, sign in DS_CONSUMPTION if name in m.variables]
    if "Node-shed" in m.variables:
        terms.append((m.variables["Node-shed"], identity(nodes, "node"), -1.0))
    if "Node-spill" in m.variables:  # shedding.add_ds_spill
        terms.append((m.variables["Node-spill"], identity(nodes, "node"), 1.0))
    return terms


def add_distribution(m: linopy.Model, system: System, *,
                     load: xr.DataArray | None = None, network: bool = True) -> int:
    """Add LinDistFlow for every feeder and the PCC exchange.

    Variables: ``Pcc-p``/``Pcc-q`` (snapshot, dso; import from the TS is positive),
    ``Branch-p``/``Branch-q`` (snapshot, branch; parent → child), ``Node-v``
    (snapshot, node; squared voltage magnitude in p.u.).

    Constraints:

    - ``Node-balance-p``: inflow − outflow − consumption = p_load (dual = DLMP)
    - ``Node-balance-q``: inflow − outflow = q_load
    - ``Branch-v-drop``: v_child = v_parent − 2 (r P + x Q) / V_nom²
    - ``Node-v-root``: v_root = V0²; ``Node-v-upper``/``-lower``: Vmin² ≤ v ≤ Vmax²
    - ``Branch-s-upper``: polygonal |S| ≤ S̄ (8 facets, inscribed)
    - ``Pcc-s-upper``: the same polygon for the PCC transformer

    Parameters
    ----------
    load : DataArray, optional
        Active node demand (snapshot, node) overriding the forecast.
    network : bool, default True
        With False, only the power balances are kept (no voltage, branch or transformer
        limits): the "copper plate" view a DSO without grid awareness would use.
    """
    if not system.has_ds:
        return 0
    ds = system.ds
    nodes = ds.indexes["node"]
    p_load = ds.node_p_load if load is None else load
    pcc_p = m.add_variables(coords=coords(system, "snapshot", "dso"), name="Pcc-p")
    pcc_q = m.add_variables(coords=coords(system, "snapshot", "dso"), name="Pcc-q")
    bp = m.add_variables(coords=coords(system, "snapshot", "branch"), name="Branch-p")
    bq = m.add_variables(coords=coords(system, "snapshot", "branch"), name="Branch-q")
    v = m.add_variables(lower=0, coords=coords(system, "snapshot", "node"), name="Node-v")

    def flows(branch_var, pcc_var) -> list:  # inflow from parent branch and PCC, outflow
        return [(branch_var, ds.branch_node1, 1.0), (pcc_var, ds.dso_root, 1.0),
                (branch_var, ds.branch_node0, -1.0)]

    cons = [(v, owner, -sign) for v, owner, sign in consumption_terms(m, system)]
    m.add_constraints(aggregate_vars(flows(bp, pcc_p) + cons, "node", nodes) == p_load,
                      name="Node-balance-p")
    m.add_constraints(aggregate_vars(flows(bq, pcc_q), "node", nodes) == ds.node_q_load,
                      name="Node-balance-q")

    dso_of_branch = ds.branch_dso.values
    v_nom = ds.dso_v_nom.sel(dso=dso_of_branch).values
    k = xr.DataArray(2.0 / v_nom**2, coords=[ds.indexes["branch"]])
    child = take(v, "node", ds.branch_node1.values, "branch", ds.indexes["branch"])
    parent = take(v, "node", ds.branch_node0.values, "branch", ds.indexes["branch"])
    m.add_constraints(child - parent + k * ds.branch_r * bp + k * ds.branch_x * bq == 0,
                      name="Branch-v-drop")
    node_dso = ds.node_dso.values
    is_root = xr.DataArray(np.isin(nodes, ds.dso_root.values), coords=[nodes])
    v0 = xr.DataArray(ds.dso_v0.sel(dso=node_dso).values ** 2, coords=[nodes])
    m.add_constraints(v == v0, name="Node-v-root", mask=is_root)
    if not network:
        return 0
    vmin = xr.DataArray(ds.dso_v_min.sel(dso=node_dso).values ** 2, coords=[nodes])
    vmax = xr.DataArray(ds.dso_v_max.sel(dso=node_dso).values ** 2, coords=[nodes])
    m.add_constraints(v <= vmax, name="Node-v-upper", mask=~is_root)
    m.add_constraints(v >= vmin, name="Node-v-lower", mask=~is_root)
    cos, sin, shrink = polygon()
    m.add_constraints(cos * bp + sin * bq <= shrink * ds.branch_s_max, name="Branch-s-upper")
    m.add_constraints(cos * pcc_p + sin * pcc_q <= shrink * ds.dso_s_max, name="Pcc-s-upper")
    return 0
