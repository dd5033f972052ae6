"""Synthetic transmission + distribution systems at scale (vectorized, seeded).

Statistics of what is generated (also in ``docs/synthetic.md``):

- **TS topology.** Buses uniform in a square; a minimum spanning tree of the 6-nearest-
  neighbour graph plus extra nearest-neighbour links, giving ≈ 1.35 lines per bus
  (mean degree ≈ 2.7, like real transmission grids).
- **TS lines.** x = 0.01 + 0.08·(length / median length) p.u.; rating = max(1.4 × |flow|
  of a capacity-proportional dispatch at peak, 100 MW).
- **Generators.** One per ≈ 3.3 buses, total P̄ = 1.35 × peak load, cost U(15, 120)
  $/MWh, 40 % must-run at P̲ = 0.2 P̄, ramp U(0.3, 1.0) P̄ per hour.
- **Loads.** 60 % of buses, lognormal peak with mean 40 MW; RTS load profile.
- **Wind.** 10 % of buses, capacity 20 % of peak load.
- **Feeders.** Radial trees; node i's parent is drawn from the three nodes before it
  (long laterals); r = U(0.2, 1.0) Ω, x = r·U(0.5, 1.0), 12.66 kV, node peak load
  U(0.05, 0.17) MW with q = p·U(0.3, 0.6); branch rating 1.5 × downstream peak
  apparent load; PCC at a random load bus, transformer 1.3 × feeder peak.
- **Assets** per feeder: 2 smart buildings, 1 EV fleet, 1 BESS, 1 PV, 1 DG
  (:func:`flexnet.grid.assets.make_assets`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
import xarray as xr
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial import cKDTree

from flexnet.errors import DataError
from flexnet.grid.assets import (
    add_markets_and_uncertainty,
    make_assets,
    profiles,
    rate_feeders,
)
from flexnet.grid.matpower import read_matpower, ts_from_matpower
from flexnet.grid.system import System
from flexnet.grid.topology import dc_flows, downstream_sum

__all__ = ["synthetic_system"]


def _ids(prefix: str, n: int) -> np.ndarray:
    return np.char.add(prefix, np.arange(n).astype(str)).astype(object)


def _mesh(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Meshed planar-ish topology: MST of the kNN graph plus extra short links."""
    xy = rng.random((n, 2))
    k = min(6, n - 1)
    dist, nb = cKDTree(xy).query(xy, k + 1)
    rows = np.repeat(np.arange(n), k)
    cols, w = nb[:, 1:].ravel(), dist[:, 1:].ravel()
    knn = sp.coo_matrix((w, (rows, cols)), shape=(n, n)).tocsr()
    knn = knn.maximum(knn.T)
    mst = sp.triu(minimum_spanning_tree(knn).maximum(minimum_spanning_tree(knn).T)).tocoo()
    a, b = mst.row, mst.col
    ncomp, label = connected_components(knn, directed=False)
    if ncomp > 1:  # kNN graph fell apart: chain the components' first buses
        first = np.unique(label, return_index=True)[1]
        a, b = np.concatenate([a, first[:-1]]), np.concatenate([b, first[1:]])
    # extra links: random kNN edges not yet used, up to 1.35 lines per bus
    cand = sp.triu(knn).tocoo()
    key = np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b)
    mask = ~np.isin(cand.row.astype(np.int64) * n + cand.col, key)
    cr, cc = cand.row[mask], cand.col[mask]
    extra = max(int(0.35 * n) - 1, 0)
    pick = rng.permutation(cr.size)[: min(extra, cr.size)]
    a, b = np.concatenate([a, cr[pick]]), np.concatenate([b, cc[pick]])
    length = np.linalg.norm(xy[a] - xy[b], axis=1)
    return a, b, length


def _synthetic_ts(rng: np.random.Generator, n: int, prof) -> xr.Dataset:
    a, b, length = _mesh(rng, n)
    x = 0.01 + 0.08 * length / np.median(length)
    bus_ids = _ids("B", n)
    load_bus = np.sort(rng.choice(n, size=max(int(0.6 * n), 1), replace=False))
    peak = rng.lognormal(np.log(40.0) - 0.5 * 0.6**2, 0.6, load_bus.size)
    ng = max(int(n / 3.3), 2)
    gen_bus = rng.choice(n, size=ng, replace=True)
    share = rng.uniform(0.5, 1.5, ng)
    pmax = 1.35 * peak.sum() * share / share.sum()
    must = rng.random(ng) < 0.4
    cost = rng.uniform(15.0, 120.0, ng)
    nw = max(int(0.1 * n), 1)
    wind_bus = rng.choice(n, size=nw, replace=False)
    wcap = 0.2 * peak.sum() * np.full(nw, 1.0 / nw)
    # rating from the flows of a capacity-proportional dispatch at peak (with mean wind)
    inj = np.zeros(n)
    np.add.at(inj, load_bus, -peak)
    wind_peak = wcap * prof["wind"].mean()
    np.add.at(inj, wind_bus, wind_peak)
    np.add.at(inj, gen_bus, pmax / pmax.sum() * (peak.sum() - wind_peak.sum()))
    rating = np.maximum(1.4 * np.abs(dc_flows(n, a, b, x, inj)), 100.0)
    T = len(prof)
    return xr.Dataset(
        {
            "line_bus0": ("line", bus_ids[a]), "line_bus1": ("line", bus_ids[b]),
            "line_x": ("line", x), "line_s_max": ("line", rating),
            "gen_bus": ("gen", bus_ids[gen_bus]), "gen_p_max": ("gen", pmax),
            "gen_p_min": ("gen", np.where(must, 0.2 * pmax, 0.0)),
            "gen_ramp": ("gen", rng.uniform(0.3, 1.0, ng) * pmax),
            "gen_cost": ("gen", cost), "gen_cost_r_up": ("gen", 0.25 * cost),
            "gen_cost_r_down": ("gen", 0.15 * cost),
            "wind_bus": ("wind", bus_ids[wind_bus]),
            "wind_p": (("snapshot", "wind"), np.outer(prof["wind"].to_numpy(), wcap)),
            "load_bus": ("load", bus_ids[load_bus]),
            "load_p": (("snapshot", "load"), np.outer(prof["load"].to_numpy(), peak)),
        },
        coords={"snapshot": np.arange(T), "bus": bus_ids, "line": _ids("L", a.size),
                "gen": _ids("G", ng), "wind": _ids("W", nw), "load": _ids("D", load_bus.size)},
        attrs={"base_mva": 100.0},
    )


def _synthetic_feeders(rng: np.random.Generator, pcc_bus: np.ndarray, m: int, prof) -> xr.Dataset:
    f = pcc_bus.size
    N = f * m
    local = np.tile(np.arange(m), f)
    offset = np.repeat(np.arange(f) * m, m)
    # parent of local node i >= 1: one of the (up to) three nodes before it
    back = 1 + (rng.random(N) * np.minimum(local, 3)).astype(int)
    child = np.flatnonzero(local > 0)
    parent = offset[child] + local[child] - back[child]
    p_pk = np.where(local > 0, rng.uniform(0.05, 0.17, N), 0.0)
    q_pk = p_pk * rng.uniform(0.3, 0.6, N)
    down = downstream_sum(parent, offset[child] + local[child], np.hypot(p_pk, q_pk))
    r = rng.uniform(0.2, 1.0, child.size)
    dso_ids = _ids("DSO", f)
    node_ids = np.char.add(np.repeat(dso_ids.astype(str), m),
                           np.char.add("-n", local.astype(str))).astype(object)
    node_dso = np.repeat(dso_ids, m)
    load = prof["load"].to_numpy()
    roots = np.arange(f) * m
    return xr.Dataset(
        {
            "dso_bus": ("dso", pcc_bus), "dso_root": ("dso", node_ids[roots]),
            "dso_s_max": ("dso", 1.3 * down[roots]), "dso_v_nom": ("dso", np.full(f, 12.66)),
            "dso_v0": ("dso", np.full(f, 1.03)), "dso_v_min": ("dso", np.full(f, 0.95)),
            "dso_v_max": ("dso", np.full(f, 1.05)),
            "node_dso": ("node", node_dso),
            "node_p_load": (("snapshot", "node"), np.outer(load, p_pk)),
            "node_q_load": (("snapshot", "node"), np.outer(load, q_pk)),
            "branch_dso": ("branch", node_dso[child]),
            "branch_node0": ("branch", node_ids[parent]),
            "branch_node1": ("branch", node_ids[child]),
            "branch_r": ("branch", r), "branch_x": ("branch", r * rng.uniform(0.5, 1.0, r.size)),
            "branch_s_max": ("branch", 1.5 * down[child]),
        },
        coords={"dso": dso_ids, "node": node_ids,
                "branch": np.char.add(node_dso[child].astype(str),
                                      np.char.add("-b", local[child].astype(str))).astype(object)},
    )


def synthetic_system(
    ts_buses: int,
    feeders: int,
    nodes_per_feeder: int = 33,
    snapshots: int = 24,
    seed: int = 0,
    *,
    ts: xr.Dataset | str | Path | None = None,
    default_rating: float = 500.0,
) -> System:
    """Generate a synthetic TSO–DSO system, deterministically for a seed.

    Parameters
    ----------
    ts_buses : int
        Transmission buses (ignored when ``ts`` is given).
    feeders : int
        Number of radial feeders (one DSO each), attached at random load buses.
    nodes_per_feeder : int, default 33
        Nodes per feeder, root included.
    snapshots : int, default 24
        Hours; the shipped 24-hour profiles are tiled.
    seed : int, default 0
        Random seed; the same arguments give an identical system.
    ts : xarray.Dataset or path, optional
        A transmission system to start from instead of a random one: a MATPOWER ``.m``
        path (e.g. ``case_ACTIVSg2000.m``) or a dataset from
        :func:`flexnet.grid.matpower.ts_from_matpower`. Feeders attach at its load buses.
    default_rating : float, default 500
        MW rating for imported lines without one.

    Returns
    -------
    System

    Examples
    --------
    >>> import flexnet
    >>> s = flexnet.synthetic_system(30, 4, nodes_per_feeder=10, seed=1)
    >>> s.n("node"), s.n("dso")
    (40, 4)
    """
    if ts_buses < 2 and ts is None:
        raise DataError(f"synthetic_system: ts_buses must be >= 2 (got {ts_buses})")
    if feeders < 0 or nodes_per_feeder < 2 or snapshots < 1:
        raise DataError("synthetic_system: need feeders >= 0, nodes_per_feeder >= 2, "
                        "snapshots >= 1")
    rng = np.random.default_rng(seed)
    prof = profiles(snapshots)
    if ts is None:
        ts_ds = _synthetic_ts(rng, ts_buses, prof)
    else:
        if not isinstance(ts, xr.Dataset):
            ts = ts_from_matpower(read_matpower(ts), default_rating=default_rating,
                                  load_profile=prof["load"].to_numpy())
        ts_ds = ts
    parts = [ts_ds]
    if feeders:
        load_buses = ts_ds["load_bus"].values
        pcc = load_buses[rng.integers(0, load_buses.size, feeders)]
        dsd = _synthetic_feeders(rng, pcc, nodes_per_feeder, prof)
        peak = dsd.node_p_load.values.reshape(snapshots, feeders, nodes_per_feeder).sum(2).max(0)
        parts += [dsd, make_assets(dsd.node.values, dsd.node_dso.values, dsd.dso.values, peak,
                                   prof, rng, buildings=2, fleets=1, storages=1, pv=1, dg=1)]
    ds = xr.merge(parts, compat="override", join="outer")
    if feeders:
        ds = rate_feeders(ds)
    ds.attrs.update(ts_ds.attrs)
    ds = add_markets_and_uncertainty(ds, prof, rng)
    ds.attrs["name"] = f"synthetic-{ts_buses if ts is None else 'imported'}x{feeders}-s{seed}"
    return System(ds)
