"""Shared helpers for blocks: coordinates, owner aggregation, the injection registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

if TYPE_CHECKING:
    import linopy

    from flexnet.grid.system import System

__all__ = ["DS_CONSUMPTION", "TS_INJECTIONS", "aggregate", "aggregate_vars", "asset_dso", "coords",
           "identity", "prev", "take"]

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


def aggregate_vars(
    terms: list[tuple[linopy.Variable, xr.DataArray, float]],
    target: str,
    index: pd.Index,
) -> linopy.LinearExpression:
    """Σ sign · var over elements into ``target`` for several (var, owner, sign) terms at once.

    Builds the expression's label/coefficient arrays directly with numpy (sort by target,
    slot within target), instead of a groupby, reindex and merge per term: one linopy
    object instead of several, which keeps model building cheap. Every variable must be
    over (snapshot, element); ``owner`` maps the element dim to ids of ``index``.
    """
    from linopy.expressions import LinearExpression

    model = terms[0][0].model
    snaps = terms[0][0].labels.indexes["snapshot"]
    L, P, C = term_columns(terms, index)
    order = np.argsort(P, kind="stable")
    L, P, C = L[:, order], P[order], C[order]
    start = np.r_[True, P[1:] != P[:-1]] if P.size else np.zeros(0, bool)
    slot = np.arange(P.size) - np.flatnonzero(start)[np.cumsum(start) - 1] if P.size else P
    width = int(slot.max()) + 1 if P.size else 1
    vars3 = np.full((snaps.size, index.size, width), -1, dtype=np.int64)
    coef3 = np.zeros((snaps.size, index.size, width))
    vars3[:, P, slot] = L
    coef3[:, P, slot] = np.where(L >= 0, C[None, :], 0.0)
    data = xr.Dataset({"vars": (("snapshot", target, "_term"), vars3),
                       "coeffs": (("snapshot", target, "_term"), coef3)},
                      coords={"snapshot": snaps, target: index})
    return LinearExpression(data, model)


def term_columns(terms: list[tuple[linopy.Variable, xr.DataArray, float]],
                 index: pd.Index) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (var, owner, sign) terms as flat columns: variable labels (snapshot × entry),
    each entry's position in ``index`` and its sign; entries owned outside ``index`` are
    dropped."""
    labels, pos, coef = [], [], []
    for var, owner, sign in terms:
        el = owner.dims[0]
        labels.append(var.labels.transpose("snapshot", el).values)
        pos.append(index.get_indexer(np.asarray(owner.values)))
        coef.append(np.full(owner.size, float(sign)))
    L, P, C = np.concatenate(labels, axis=1), np.concatenate(pos), np.concatenate(coef)
    keep = P >= 0
    return L[:, keep], P[keep], C[keep]


def identity(index: pd.Index, dim: str) -> xr.DataArray:
    """Owner mapping of a set onto itself (for variables already over the target dim)."""
    return xr.DataArray(np.asarray(index), coords={dim: index}, dims=dim)


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
