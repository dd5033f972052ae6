"""Validation of system data: every rule raises :class:`DataError` naming element, id, field."""

from __future__ import annotations

import difflib

import numpy as np
import pandas as pd
import scipy.sparse as sp
import xarray as xr
from scipy.sparse.csgraph import connected_components

from flexnet.errors import DataError
from flexnet.grid.schema import (
    ATTR_RANGES,
    CEILING,
    ELEMENTS,
    FIELDS,
    GLOBAL_ATTRS,
    RANGES,
    TEXT_ATTRS,
    Field,
)

__all__ = ["validate"]

_KNOWN = {f.name for f in FIELDS}
_INTERVALS = ["load_p", "wind_p", "node_p_load", "der_p"]


def _r(x) -> str:
    """repr() of a value with numpy scalars turned into plain Python ones."""
    if isinstance(x, np.ndarray | list):
        return repr([v.item() if hasattr(v, "item") else v for v in x])
    return repr(x.item() if hasattr(x, "item") else x)


def _ids(ds: xr.Dataset, element: str) -> np.ndarray:
    return ds[element].values if element in ds.coords else np.array([], dtype=object)


def _first_bad(ds: xr.Dataset, f: Field, bad: np.ndarray, values: np.ndarray, what: str):
    """Raise a DataError for the first True entry of ``bad`` (aligned with ``f.dims``)."""
    idx = np.unravel_index(int(np.argmax(bad)), bad.shape)
    where = []
    elem = f.element
    for d, i in zip(f.dims, idx, strict=True):
        if d == elem:
            continue
        where.append(f"{d}={_r(ds[d].values[i])}")
    who = f"{elem} {_r(ds[elem].values[idx[f.dims.index(elem)]])}" if elem else "system"
    loc = f" at {', '.join(where)}" if where else ""
    n = int(bad.sum())
    more = f" ({n - 1} more entries are bad too)" if n > 1 else ""
    raise DataError(f"{who}: field {_r(f.name)}{loc} {what} (got {_r(values[idx])}){more}")


def _check_ids(ds: xr.Dataset) -> None:
    snaps = pd.Index(ds.snapshot.values)
    if snaps.has_duplicates:
        dup = snaps[snaps.duplicated()]
        raise DataError(f"snapshot {_r(dup[0])}: duplicate snapshot label ({dup.size} duplicated; "
                        "coordinate 'snapshot')")
    for element in ELEMENTS:
        if element not in ds.dims:
            continue
        ids = _ids(ds, element)
        if ids.size == 0:
            continue
        if element not in ds.coords:
            raise DataError(f"{element}: dimension has no id coordinate")
        s = ids.astype(str)
        empty = (s == "") | (s == "nan")
        if empty.any():
            raise DataError(f"{element}: id at position {int(np.argmax(empty))} is empty")
        uniq, counts = np.unique(s, return_counts=True)
        if (counts > 1).any():
            dup = uniq[counts > 1]
            raise DataError(f"{element} {_r(dup[0])}: duplicate id ({len(dup)} duplicated ids, "
                            f"e.g. {list(dup[:5])})")


def _check_fields(ds: xr.Dataset) -> None:
    unknown = [v for v in ds.data_vars if v not in _KNOWN]
    if unknown:
        v = unknown[0]
        close = difflib.get_close_matches(v, _KNOWN, n=1)
        hint = f"; did you mean {_r(close[0])}?" if close else ""
        raise DataError(f"system: unknown field {_r(v)}{hint}")
    for f in FIELDS:
        present = f.name in ds.data_vars
        if not present:
            if f.required and all(ds.sizes.get(d, 0) > 0 for d in f.dims):
                raise DataError(f"{f.element or 'system'}: required field {_r(f.name)} is missing "
                                f"({f.description})")
            continue
        da = ds[f.name]
        if set(da.dims) != set(f.dims):
            raise DataError(f"{f.element or 'system'}: field {_r(f.name)} has dims {da.dims}, "
                            f"expected {f.dims}")
        if da.size == 0:
            continue
        values = da.transpose(*f.dims).values
        if f.rule.startswith("ref:") or f.rule == "str":
            continue
        if f.rule == "bool":
            if values.dtype != bool:
                raise DataError(f"{f.element}: field {_r(f.name)} must be boolean "
                                f"(got dtype {values.dtype})")
            continue
        who = f.element or "system"
        if values.dtype.kind == "c":
            raise DataError(f"{who}: field {_r(f.name)} must be real, not complex "
                            f"(got dtype {values.dtype})")
        if values.dtype.kind == "O":  # text cells, None, mixed objects: numeric if all parse
            values = _as_float(ds, f, values)
        elif values.dtype.kind not in "iuf":  # bool, timedelta, datetime, bytes, str
            raise DataError(f"{who}: field {_r(f.name)} must be numeric "
                            f"(got dtype {values.dtype})")
        values = values.astype(float)
        nonfinite = ~np.isfinite(values)
        if nonfinite.any():
            _first_bad(ds, f, nonfinite, values, "is NaN or infinite")
        if f.rule == "pos" and (values <= 0).any():
            _first_bad(ds, f, values <= 0, values, "must be > 0")
        if f.rule == "nonneg" and (values < 0).any():
            _first_bad(ds, f, values < 0, values, "must be >= 0")
        if f.rule == "frac" and ((values < 0) | (values > 1)).any():
            _first_bad(ds, f, (values < 0) | (values > 1), values, "must lie in [0, 1]")
        if f.name in RANGES:
            lo, hi, lo_open, what = RANGES[f.name]
            v = np.abs(values) if f.name == "line_x" else values  # a signed reactance
            out = ((v <= lo) if lo_open else (v < lo)) | (v > hi)
            if out.any():
                _first_bad(ds, f, out, values, f"must be {what}")
        else:
            big = np.abs(values) > CEILING
            if big.any():
                _first_bad(ds, f, big, values, f"exceeds the ceiling of {CEILING:g} "
                           f"{f.units or ''} (flexnet.grid.schema.CEILING)".replace("  ", " "))


def _as_float(ds: xr.Dataset, f: Field, values: np.ndarray) -> np.ndarray:
    """An object array as floats; the first cell that is not a number raises, named."""
    flat = values.ravel()
    out = np.empty(flat.size)
    for i, v in enumerate(flat):  # object cells: no vector parse tells which one failed
        ok = isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
        if not ok:
            bad = np.zeros(flat.size, dtype=bool)
            bad[i] = True
            _first_bad(ds, f, bad.reshape(values.shape), values, "must be numeric")
        out[i] = float(v)
    return out.reshape(values.shape)


def _check_self_loops(ds: xr.Dataset) -> None:
    if "line_bus0" not in ds or not ds.line_bus0.size:
        return
    loop = ds.line_bus0.values.astype(str) == ds.line_bus1.values.astype(str)
    if loop.any():
        i = int(np.argmax(loop))
        raise DataError(f"line {_r(ds.line.values[i])}: connects bus {_r(ds.line_bus0.values[i])} "
                        "to itself (fields 'line_bus0', 'line_bus1')")


def _check_refs(ds: xr.Dataset) -> None:
    for f in FIELDS:
        if not f.rule.startswith("ref:") or f.name not in ds:
            continue
        target = f.rule[4:]
        values = ds[f.name].values.astype(str)
        if values.size == 0:
            continue
        if f.name == "dso_bus" and _ids(ds, "bus").size == 0:
            continue  # feeder-only case: no transmission system to refer to
        known = np.isin(values, _ids(ds, target).astype(str))
        if not known.all():
            i = int(np.argmax(~known))
            raise DataError(f"{f.element} {_r(ds[f.element].values[i])}: field {_r(f.name)} refers "
                            f"to {target} {_r(values[i])}, which does not exist")


def _pairs(ds: xr.Dataset) -> None:
    """Relations between two fields of the same element."""
    def need(cond: xr.DataArray, element: str, msg: str) -> None:
        bad = ~cond.values
        if bad.any():
            idx = np.unravel_index(int(np.argmax(bad)), bad.shape)
            eid = ds[element].values[idx[cond.dims.index(element)]]
            extra = ""
            if "snapshot" in cond.dims:
                extra = f" at snapshot={_r(ds['snapshot'].values[idx[cond.dims.index('snapshot')]])}"
            raise DataError(f"{element} {_r(eid)}: {msg}{extra}")

    def have(*names: str) -> bool:
        return all(n in ds and ds[n].size > 0 for n in names)

    if have("gen_p_min", "gen_p_max"):
        need(ds.gen_p_min <= ds.gen_p_max, "gen", "P̲ > P̄: field 'gen_p_min' exceeds 'gen_p_max'")
    if have("building_t_min", "building_t_max"):
        need(ds.building_t_min < ds.building_t_max, "building",
             "comfort band inverted: 'building_t_min' >= 'building_t_max'")
    if have("storage_soc_min", "storage_soc_max", "storage_soc_init"):
        need(ds.storage_soc_min <= ds.storage_soc_max, "storage",
             "'storage_soc_min' exceeds 'storage_soc_max'")
        need((ds.storage_soc_init >= ds.storage_soc_min)
             & (ds.storage_soc_init <= ds.storage_soc_max), "storage",
             "'storage_soc_init' lies outside ['storage_soc_min', 'storage_soc_max']")
    if have("dso_v_min", "dso_v_max", "dso_v0"):
        need(ds.dso_v_min < ds.dso_v_max, "dso", "voltage band inverted: 'dso_v_min' >= 'dso_v_max'")
        need((ds.dso_v0 >= ds.dso_v_min) & (ds.dso_v0 <= ds.dso_v_max), "dso",
             "'dso_v0' lies outside ['dso_v_min', 'dso_v_max']")
    if have("der_p", "der_p_max"):
        need(ds.der_p <= ds.der_p_max * (1 + 1e-9), "der", "'der_p' exceeds 'der_p_max'")
    if have("fleet_connected", "fleet_count"):
        need(ds.fleet_connected <= ds.fleet_count, "fleet", "'fleet_connected' exceeds 'fleet_count'")
    if have("der_kind"):
        need(ds.der_kind.isin(["pv", "dg"]), "der", "field 'der_kind' must be 'pv' or 'dg'")
    for base in _INTERVALS:
        lo, up = f"{base}_lower", f"{base}_upper"
        if have(base, lo, up):
            element = base.split("_")[0]
            need(ds[lo] <= ds[base], element,
                 f"interval does not contain the forecast: '{lo}' > '{base}'")
            need(ds[base] <= ds[up], element,
                 f"interval does not contain the forecast: '{base}' > '{up}'")
    if "forecast_error" in ds and ds.forecast_error.size:
        areas = ds["area"].values.astype(str)
        ok = np.isin(areas, np.concatenate([["ts"], _ids(ds, "dso").astype(str)]))
        if not ok.all():
            raise DataError(f"forecast_error: area {_r(areas[~ok][0])} is neither 'ts' nor a dso id")


def _check_feeders(ds: xr.Dataset) -> None:
    """Each DSO's nodes and branches form one tree rooted at ``dso_root``."""
    nodes = _ids(ds, "node").astype(str)
    dsos = _ids(ds, "dso").astype(str)
    if dsos.size == 0:
        if nodes.size:
            raise DataError("node: distribution nodes exist but no dso is defined")
        return
    node_pos = pd.Index(nodes)
    node_dso = ds.node_dso.values.astype(str)
    b_ids = _ids(ds, "branch").astype(str)
    n0 = node_pos.get_indexer(ds.branch_node0.values.astype(str))
    n1 = node_pos.get_indexer(ds.branch_node1.values.astype(str))
    bd = ds.branch_dso.values.astype(str) if b_ids.size else np.array([], dtype=str)
    same = (node_dso[n0] == bd) & (node_dso[n1] == bd) if b_ids.size else np.array([], bool)
    if b_ids.size and not same.all():
        i = int(np.argmax(~same))
        raise DataError(f"branch {_r(b_ids[i])}: endpoints {_r(nodes[n0[i]])} → {_r(nodes[n1[i]])} "
                        f"are not both in dso {_r(bd[i])} (field 'branch_dso')")
    loops = n0 == n1
    if loops.any():
        i = int(np.argmax(loops))
        raise DataError(f"branch {_r(b_ids[i])}: connects node {_r(nodes[n0[i]])} to itself")
    roots = node_pos.get_indexer(ds.dso_root.values.astype(str))
    wrong = node_dso[roots] != dsos
    if wrong.any():
        i = int(np.argmax(wrong))
        raise DataError(f"dso {_r(dsos[i])}: field 'dso_root' is node {_r(nodes[roots[i]])}, "
                        f"which belongs to dso {_r(node_dso[roots[i]])}")
    indeg = np.bincount(n1, minlength=nodes.size)
    several = indeg > 1
    if several.any():
        i = int(np.argmax(several))
        raise DataError(f"dso {_r(node_dso[i])}: feeder is not radial: node {_r(nodes[i])} has "
                        f"{indeg[i]} parent branches (field 'branch_node1')")
    nd = pd.Index(dsos).get_indexer(node_dso)
    n_roots = np.bincount(nd, weights=(indeg == 0), minlength=dsos.size).astype(int)
    for i in np.flatnonzero(n_roots != 1):  # loop over the few bad feeders only
        cand = nodes[(nd == i) & (indeg == 0)]
        if n_roots[i] == 0:
            raise DataError(f"dso {_r(dsos[i])}: feeder has no root (every node has a parent "
                            "branch, so it contains a loop)")
        raise DataError(f"dso {_r(dsos[i])}: feeder has {n_roots[i]} roots {list(cand[:5])}: it is "
                        "not connected or has several substations")
    root_ok = indeg[roots] == 0
    if not root_ok.all():
        i = int(np.argmax(~root_ok))
        raise DataError(f"dso {_r(dsos[i])}: field 'dso_root' node {_r(nodes[roots[i]])} has a parent "
                        "branch; the root must have none")
    g = sp.coo_matrix((np.ones(n0.size), (n0, n1)), shape=(nodes.size, nodes.size))
    _, label = connected_components(g, directed=False)
    comps = np.bincount(nd, minlength=dsos.size)
    # islands per feeder = distinct (dso, component) pairs, counted without a loop
    pairs = np.unique(nd.astype(np.int64) * (label.max() + 1) + label)
    per_dso = np.bincount(pairs // (label.max() + 1), minlength=dsos.size)
    bad = per_dso != 1
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"dso {_r(dsos[i])}: feeder is not connected ({per_dso[i]} islands among "
                        f"its {int(comps[i])} nodes); it contains a loop or a detached part")


def _check_attrs(ds: xr.Dataset) -> None:
    known = set(GLOBAL_ATTRS) | set(TEXT_ATTRS)
    for key in ds.attrs:
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            if not close:  # attributes are case-sensitive: 'VOLL' is not 'voll'
                close = [k for k in known if k.lower() == str(key).lower()]
            hint = f"; did you mean {_r(close[0])}?" if close else ""
            raise DataError(f"system: unknown attribute {_r(key)}{hint} (known: "
                            f"{', '.join(GLOBAL_ATTRS)}; free text: {', '.join(TEXT_ATTRS)})")
    for key, (lo, hi, lo_open) in ATTR_RANGES.items():
        v = ds.attrs.get(key, GLOBAL_ATTRS[key][0])
        ok = isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
        if not ok:
            raise DataError(f"system: attribute {_r(key)} must be a number (got {_r(v)})")
        v = float(v)
        if not np.isfinite(v):
            raise DataError(f"system: attribute {_r(key)} must be a finite number (got {_r(v)})")
        if (v <= lo if lo_open else v < lo) or v > hi:
            span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"
            why = " (the ceiling, flexnet.grid.schema.CEILING)" if v > hi == CEILING else ""
            raise DataError(f"system: attribute {_r(key)} must lie in {span}{why} (got {_r(v)})")
    lo, hi = float(ds.attrs["drp_reward_min"]), float(ds.attrs["drp_reward_max"])
    if not (0 <= lo <= hi):
        raise DataError(f"system: DRP reward bounds must satisfy 0 <= drp_reward_min <= "
                        f"drp_reward_max (got {lo}, {hi})")


def validate(ds: xr.Dataset) -> None:
    """Check a system dataset; raise :class:`DataError` at the first problem.

    Parameters
    ----------
    ds : xarray.Dataset
        System data with defaults already filled in.

    Raises
    ------
    DataError
        Naming the element, its id and the field.
    """
    if "snapshot" not in ds.dims or ds.sizes["snapshot"] == 0:
        raise DataError("system: no snapshots (dimension 'snapshot' is missing or empty)")
    _check_ids(ds)
    _check_fields(ds)
    _check_refs(ds)
    _check_self_loops(ds)
    _check_attrs(ds)
    _pairs(ds)
    _check_feeders(ds)
