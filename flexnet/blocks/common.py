"""Shared helpers for blocks: coordinates, owner aggregation, the injection registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

if TYPE_CHECKING:
    import linopy

    from flexnet.grid.system import System

__all__ = ["DS_CONSUMPTION", "TS_INJECTIONS", "aggregate", "asset_dso", "coords", "prev", "take"]

#: TS bus injections: (model variable, field mapping the element to its bus, sign)
TS_INJECTIONS: list[tuple[str, str, float]] = [
    ("Gen-p", "gen_bus", 1.0),
    ("Wind-p", "wind_bus", 1.0),
    ("Load-shed", "load_bus", 1.0),
    ("Pcc-p", "dso_bus", -1.0),
]

#: DS node consumption (positive = draws power): (variable, field mapping to node, sign)
DS_CONSUMPTION: list[tuple[str, str, float]] = [
    ("Building-p", "building_node", 1.0),
    ("Fleet-p-charge", "fleet_node", 1.0),
    ("Fleet-p-discharge", "fleet_node", -1.0),
    ("Storage-p-charge", "storage_node", 1.0),
    ("Storage-p-discharge", "storage_node", -1.0),
    ("Der-p", "der_node", -1.0),
]

#: up/down reserve offered by DS assets, aggregated per DSO at the PCC
DS_RESERVE: list[tuple[str, str]] = [
    ("Building", "building_node"),
    ("Fleet", "fleet_node"),
    ("Storage", "storage_node"),
    ("Der", "der_node"),
]


def coords(system: System, *dims: str) -> list[pd.Index]:
    """Named indexes for ``dims`` (e.g. ``coords(s, "snapshot", "gen")``)."""
    return [system.ds.indexes[d].rename(d) for d in dims]


def asset_dso(system: System, node_field: str) -> xr.DataArray:
    """DSO id of every asset (via its node), as a DataArray over the asset dim."""
    ds = system.ds
    return xr.DataArray(ds["node_dso"].sel(node=ds[node_field].values).values,
                        dims=ds[node_field].dims, coords={ds[node_field].dims[0]:
                                                          ds[node_field][ds[node_field].dims[0]]})


def aggregate(
    expr: linopy.Variable | linopy.LinearExpression,
    owner: xr.DataArray,
    target: str,
    index: pd.Index,
) -> linopy.LinearExpression:
    """Sum ``expr`` over its element dim into ``target`` by the ``owner`` mapping.

    Targets without any element get an empty expression (all terms masked), so the
    result always spans the full ``index``.
    """
    owner = owner.rename(target).drop_vars([c for c in owner.coords if c not in owner.dims])
    grouped = expr.groupby(owner).sum()
    return grouped.reindex({target: index}).fillna(0)


def take(var: linopy.Variable, dim: str, labels, new_dim: str, new_index: pd.Index):
    """Select ``var`` at ``labels`` along ``dim`` and relabel that axis as ``new_dim``.

    E.g. the angle at each line's from bus: ``take(theta, "bus", line_bus0, "line", lines)``.
    """
    return var.sel({dim: np.asarray(labels)}).rename({dim: new_dim}).assign_coords(
        {new_dim: new_index})


def prev(var: linopy.Variable) -> linopy.LinearExpression:
    """The variable at the previous snapshot (zero at the first one)."""
    return var.shift(snapshot=1).fillna(0)


def first(system: System) -> xr.DataArray:
    """Boolean over snapshots, True at the first one (for initial-state right-hand sides)."""
    s = system.ds["snapshot"]
    return xr.DataArray(np.arange(s.size) == 0, coords={"snapshot": s.values}, dims="snapshot")


def last(system: System) -> xr.DataArray:
    """Boolean over snapshots, True at the last one."""
    s = system.ds["snapshot"]
    return xr.DataArray(np.arange(s.size) == s.size - 1, coords={"snapshot": s.values},
                        dims="snapshot")
