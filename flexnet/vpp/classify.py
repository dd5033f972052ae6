"""Features of distributed flexibility resources, TVPP/DVPP classification, VPP offers.

Reconstruction of Cai et al. (Energy 2025), whose full text was not available; the
features, the rule and the aggregation below are ours and documented in docs/vpp.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
import xarray as xr

from flexnet.grid import topology
from flexnet.vpp.cluster import MAX_EXACT, cluster

if TYPE_CHECKING:
    from flexnet.grid.system import System

__all__ = ["FEATURES", "KINDS", "aggregate_offers", "classify", "features", "path_sums"]

#: the asset sets that are distributed flexibility resources
KINDS = ("building", "fleet", "storage", "der")

#: feature → (units, definition); the clustering uses log1p of the first three, z-scored
FEATURES: dict[str, tuple[str, str]] = {
    "p_cap": ("MW", "flexible power: HVAC + battery (building), chargers × (1 + V2G) "
                    "(fleet), p_max (BESS, DER)"),
    "duration": ("h", "energy / p_cap: (battery + shiftable energy) (building), EV batteries "
                      "(fleet), e_max (BESS), daily forecast energy (DER)"),
    "ramp": ("MW/h", "p_cap: DS assets have no ramp limits, so a full swing per hour"),
    "cost": ("$/MW/h", "flexibility (reserve) cost of the asset"),
    "sigma": ("MW", "forecast-error σ: the DSO area's σ shared by p_cap; 10 % of the "
                    "mean forecast for DER"),
    "r_path": ("Ω", "resistance of the path from the substation (electrical distance)"),
    "dv_dp": ("p.u./MW", "LinDistFlow sensitivity of the node's v² to 1 MW: 2 r_path / V_nom²"),
    "df_dp": ("1/MVA", "Σ over the path of 1/S̄: branch-loading change per MW"),
}


def path_sums(system: System, values: np.ndarray) -> np.ndarray:
    """Σ of a per-branch quantity along the path from each node's root (node order)."""
    ds = system.ds
    nodes = ds.indexes["node"]
    return topology.path_sums(nodes.get_indexer(ds.branch_node0.values),
                              nodes.get_indexer(ds.branch_node1.values), values, nodes.size)


def _resources(system: System) -> pd.DataFrame:
    ds = system.ds
    rows = []
    for kind in KINDS:
        if kind not in ds.dims:
            continue
        ids = ds[kind].values
        rows.append(pd.DataFrame({"kind": kind, "asset": ids,
                                  "node": ds[f"{kind}_node"].values}))
    if not rows:
        raise ValueError(f"system {system.name!r} has no distributed flexibility resources")
    df = pd.concat(rows, ignore_index=True)
    df["dso"] = ds.node_dso.sel(node=df.node.values).values
    df.index = pd.Index([f"{k}:{a}" for k, a in zip(df.kind, df.asset, strict=True)],
                        name="resource")
    return df


def features(system: System) -> pd.DataFrame:
    """One row per resource (``kind:id``) with the :data:`FEATURES` columns plus kind,
    asset, node and dso."""
    ds = system.ds
    df = _resources(system)
    cap, dur, cost = {}, {}, {}
    if "building" in ds.dims:
        c = (ds.building_hvac_max + ds.building_batt_p).values
        cap["building"] = c
        dur["building"] = (ds.building_batt_e + ds.building_shift_energy).values / np.maximum(c, 1e-9)
        cost["building"] = ds.building_cost_flex.values
    if "fleet" in ds.dims:
        c = (ds.fleet_count * ds.fleet_p_charger * (1 + ds.fleet_v2g.astype(float))).values
        cap["fleet"] = c
        dur["fleet"] = (ds.fleet_count * ds.fleet_e_ev).values / np.maximum(c, 1e-9)
        cost["fleet"] = ds.fleet_cost_flex.values
    if "storage" in ds.dims:
        cap["storage"] = ds.storage_p_max.values
        dur["storage"] = (ds.storage_e_max / ds.storage_p_max).values
        cost["storage"] = ds.storage_cost_flex.values
    if "der" in ds.dims:
        cap["der"] = ds.der_p_max.values
        dur["der"] = ds.der_p.sum("snapshot").values / np.maximum(ds.der_p_max.values, 1e-9)
        cost["der"] = ds.der_cost_flex.values
    kinds = [k for k in KINDS if k in cap]
    df["p_cap"] = np.concatenate([cap[k] for k in kinds])
    df["duration"] = np.concatenate([dur[k] for k in kinds])
    df["ramp"] = df["p_cap"]
    df["cost"] = np.concatenate([cost[k] for k in kinds])
    # forecast error: the area's σ shared by capacity; DER: 10 % of the mean forecast
    share = df.p_cap / df.groupby("dso").p_cap.transform("sum")
    if "forecast_error" in ds and "area" in ds.dims:
        area_sigma = ds.forecast_error.std("sample").mean("snapshot").to_series()
        df["sigma"] = share * area_sigma.reindex(df.dso.values).fillna(0.0).values
    else:
        df["sigma"] = 0.0
    if "der" in ds.dims:
        is_der = (df.kind == "der").values
        df.loc[is_der, "sigma"] = 0.1 * ds.der_p.mean("snapshot").values
    nodes = ds.indexes["node"]
    r_path = path_sums(system, ds.branch_r.values)
    f_path = path_sums(system, 1.0 / ds.branch_s_max.values)
    at = nodes.get_indexer(df.node.values)
    df["r_path"] = r_path[at]
    v_nom = ds.dso_v_nom.sel(dso=df.dso.values).values
    df["dv_dp"] = 2 * df["r_path"] / v_nom**2
    df["df_dp"] = f_path[at]
    return df


def _scaled(df: pd.DataFrame) -> np.ndarray:
    X = df[list(FEATURES)].to_numpy(float).copy()
    X[:, :3] = np.log1p(X[:, :3])  # capacities span orders of magnitude
    sd = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def classify(system: System, *, min_bid_mw: float = 1.0, t1: float | None = None,
             t2: float | None = None, backend: str = "fasterpam", seed: int = 0,
             max_exact: int = MAX_EXACT) -> pd.DataFrame:
    """Cluster the resources (Canopy + K-medoids) and label each cluster TVPP or DVPP.

    Rule (documented reconstruction): a cluster is a **TVPP** when its total flexible
    power is at least ``min_bid_mw`` (the wholesale market's minimum bid) **and** its
    median voltage sensitivity ``dv_dp`` is at most the median over all resources
    (electrically close to the substation, so TSO-cleared flexibility barely moves feeder
    voltages); otherwise it is a **DVPP** in its DSO's local market. VPPs are split by
    DSO, since each sits behind one PCC: ``vpp`` is ``"<TVPP|DVPP><cluster>-<dso>"``.

    Returns
    -------
    DataFrame
        :func:`features` plus ``cluster``, ``vpp_class`` and ``vpp`` per resource.
    """
    df = features(system)
    res = cluster(_scaled(df), t1=t1, t2=t2, backend=backend, seed=seed, max_exact=max_exact)
    df["cluster"] = res.labels
    g = df.groupby("cluster")
    tvpp = (g.p_cap.sum() >= min_bid_mw) & (g.dv_dp.median() <= df.dv_dp.median())
    df["vpp_class"] = np.where(tvpp.reindex(df.cluster).values, "TVPP", "DVPP")
    df["vpp"] = [f"{c}{k}-{d}" for c, k, d in zip(df.vpp_class, df.cluster, df.dso, strict=True)]
    df.attrs.update(k=int(res.medoids.size), k_canopy=res.k_canopy, loss=res.loss,
                    backend=res.backend, medoids=list(df.index[res.medoids]))
    return df


def aggregate_offers(system: System, table: pd.DataFrame) -> xr.Dataset:
    """Each VPP's offer: hourly up/down flexibility envelopes and a stepwise cost curve.

    Envelopes per member (MW, per hour): BESS ±p_max; EV fleets connected × charger
    (× 2 with V2G up); buildings DR limit up, HVAC headroom down; DER forecast output
    down, headroom to p_max up. The cost curve lists the members' capacities sorted by
    flexibility cost (``step`` dim: MW and $/MW/h).
    """
    ds = system.ds
    snap = ds.indexes["snapshot"]
    up, down = {}, {}
    if "building" in ds.dims:
        up["building"] = (ds.building_dr_max + 0 * ds.snapshot).transpose("snapshot", ...)
        down["building"] = (ds.building_hvac_max + 0 * ds.snapshot).transpose("snapshot", ...)
    if "fleet" in ds.dims:
        base = ds.fleet_connected * ds.fleet_p_charger
        up["fleet"] = base * (1 + ds.fleet_v2g.astype(float))
        down["fleet"] = base
    if "storage" in ds.dims:
        up["storage"] = (ds.storage_p_max + 0 * ds.snapshot).transpose("snapshot", ...)
        down["storage"] = up["storage"]
    if "der" in ds.dims:
        up["der"] = (ds.der_p_max - ds.der_p).clip(min=0)
        down["der"] = ds.der_p
    up = {k: v.transpose("snapshot", k) for k, v in up.items()}
    down = {k: v.transpose("snapshot", k) for k, v in down.items()}
    cols_up = np.concatenate([up[k].values for k in KINDS if k in up], axis=1)
    cols_dn = np.concatenate([down[k].values for k in KINDS if k in down], axis=1)
    vpps = pd.Index(sorted(table.vpp.unique()), name="vpp")
    member = sp.csr_matrix((np.ones(len(table)), (np.arange(len(table)),
                                                  vpps.get_indexer(table.vpp.values))),
                           shape=(len(table), vpps.size))
    env_up = (member.T @ cols_up.T).T
    env_dn = (member.T @ cols_dn.T).T
    first = table.groupby("vpp").first().reindex(vpps)
    srt = table.sort_values(["vpp", "cost"], kind="stable")
    row = vpps.get_indexer(srt.vpp.values)
    col = srt.groupby("vpp").cumcount().to_numpy()
    mw = np.zeros((vpps.size, col.max() + 1))
    price = np.full(mw.shape, np.nan)
    mw[row, col] = srt.p_cap.to_numpy()
    price[row, col] = srt.cost.to_numpy()
    n_step = mw.shape[1]
    out = xr.Dataset(
        {"vpp_flex_up": (("snapshot", "vpp"), env_up, {"units": "MW"}),
         "vpp_flex_down": (("snapshot", "vpp"), env_dn, {"units": "MW"}),
         "vpp_curve_mw": (("vpp", "step"), mw, {"units": "MW"}),
         "vpp_curve_price": (("vpp", "step"), price, {"units": "$/MW/h"}),
         "vpp_members": ("vpp", table.groupby("vpp").size().reindex(vpps).values)},
        coords={"snapshot": snap, "vpp": vpps, "step": np.arange(n_step),
                "vpp_class": ("vpp", first.vpp_class.values), "vpp_dso": ("vpp", first.dso.values)})
    return out
