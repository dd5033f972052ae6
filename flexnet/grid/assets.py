"""Profiles and vectorized generation of distribution assets, intervals and market data.

Used by the shipped composite case and by :func:`flexnet.synthetic_system`; every asset
is sized relative to the peak load of the DSO it sits in, so the same recipe works for
a 4 MW feeder and a 60 MW aggregated distribution area.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from flexnet.grid.topology import downstream_sum

__all__ = ["DATASETS", "add_markets_and_uncertainty", "make_assets", "profiles",
           "rate_feeders"]

#: the shipped data (profiles, MATPOWER cases): package data, found wherever flexnet is
#: installed (a wheel keeps it as plain files, so a Path is safe)
DATASETS = Path(str(files("flexnet") / "datasets"))


def profiles(snapshots: int = 24) -> pd.DataFrame:
    """The shipped 24-hour profiles, tiled to ``snapshots`` hours.

    Columns: ``load`` (p.u. of daily peak, IEEE RTS winter weekday), ``pv`` and ``wind``
    (p.u. of rating), ``t_out`` (°C), ``ev_connected``, ``ev_arrive``, ``ev_depart``
    (fractions of a fleet).
    """
    df = pd.read_csv(DATASETS / "profiles.csv", comment="#").set_index("hour")
    reps = -(-snapshots // len(df))
    return pd.concat([df] * reps, ignore_index=True).iloc[:snapshots]


def _pick_nodes(rng: np.random.Generator, offsets: np.ndarray, sizes: np.ndarray,
                per_dso: int) -> np.ndarray:
    """Random non-root node positions, ``per_dso`` per feeder (the root is first)."""
    d = np.repeat(np.arange(offsets.size), per_dso)
    return offsets[d] + 1 + (rng.random(d.size) * (sizes[d] - 1)).astype(int)


def make_assets(
    node_ids: np.ndarray,
    node_dso: np.ndarray,
    dso_ids: np.ndarray,
    dso_peak: np.ndarray,
    prof: pd.DataFrame,
    rng: np.random.Generator,
    *,
    buildings: int = 6,
    fleets: int = 1,
    storages: int = 1,
    pv: int = 2,
    dg: int = 1,
) -> xr.Dataset:
    """Smart buildings, EV fleets, BESS and DERs for every feeder at once.

    Parameters
    ----------
    node_ids, node_dso : arrays over nodes
        Flattened node ids and owners; each feeder's nodes are contiguous, root first.
    dso_ids, dso_peak : arrays over DSOs
        DSO ids and their peak active load (MW); asset sizes scale with it.
    prof : DataFrame
        Output of :func:`profiles`.
    rng : numpy Generator
        Source of randomness (placement and ±30 % size spread).
    buildings, fleets, storages, pv, dg : int
        Assets of each kind per feeder.
    """
    _, offsets, sizes = np.unique(node_dso, return_index=True, return_counts=True)
    order = pd.Index(dso_ids).get_indexer(node_dso[offsets])
    offsets, sizes = offsets[np.argsort(order)], sizes[np.argsort(order)]
    T = len(prof)
    load, pvp, t_out = prof["load"].to_numpy(), prof["pv"].to_numpy(), prof["t_out"].to_numpy()

    def spread(n: int) -> np.ndarray:
        return rng.uniform(0.7, 1.3, n)

    out: dict[str, tuple] = {}
    coords: dict[str, np.ndarray] = {}
    # smart buildings --------------------------------------------------------------
    nb = buildings * dso_ids.size
    pk = np.repeat(dso_peak, buildings)
    bnode = _pick_nodes(rng, offsets, sizes, buildings)
    hvac = 0.02 * pk * spread(nb)
    eta = rng.uniform(2.5, 3.5, nb)
    t_min = rng.uniform(19.5, 20.5, nb)
    t_max = t_min + rng.uniform(2.0, 3.0, nb)
    # design: holding mid-band at the coldest hour takes 60 % of the heat pump
    r = (0.5 * (t_min + t_max) - t_out.min()) / (eta * 0.6 * hvac)
    c = rng.uniform(15.0, 30.0, nb) / r  # RC time constant 15-30 h
    p_base = (0.01 * pk * spread(nb))[None, :] * load[:, None]
    shift_max = 0.004 * pk * spread(nb)
    pv_b = (0.008 * pk * spread(nb))[None, :] * pvp[:, None]
    hvac_ss = np.clip((0.5 * (t_min + t_max))[None, :] - t_out[:, None], 0, None) / (eta * r)
    shift_e = 4.0 * shift_max
    coords["building"] = np.array([f"SB{i}" for i in range(nb)], dtype=object)
    out.update({
        "building_node": ("building", node_ids[bnode]),
        "building_r": ("building", r), "building_c": ("building", c),
        "building_eta": ("building", eta), "building_hvac_max": ("building", hvac),
        "building_t_min": ("building", t_min), "building_t_max": ("building", t_max),
        "building_t_init": ("building", t_min + 0.5),
        "building_p_base": (("snapshot", "building"), p_base),
        "building_shift_energy": ("building", shift_e),
        "building_shift_max": ("building", shift_max),
        "building_pv": (("snapshot", "building"), pv_b),
        "building_batt_p": ("building", 0.003 * pk), "building_batt_e": ("building", 0.006 * pk),
        "building_dr_max": ("building", 0.5 * hvac),
        # customer baseline: appliances + steady-state heating + flat shiftable load − PV
        "building_p_baseline": (("snapshot", "building"),
                                p_base + np.minimum(hvac_ss, hvac) + shift_e / T - pv_b),
    })
    # EV fleets ------------------------------------------------------------------------
    nf = fleets * dso_ids.size
    count = np.maximum(np.round(400 * np.repeat(dso_peak, fleets) / 56.0 * spread(nf)), 10)
    e_ev = np.full(nf, 0.06)
    conn, arr, dep = (prof[k].to_numpy() for k in ("ev_connected", "ev_arrive", "ev_depart"))
    coords["fleet"] = np.array([f"EV{i}" for i in range(nf)], dtype=object)
    out.update({
        "fleet_node": ("fleet", node_ids[_pick_nodes(rng, offsets, sizes, fleets)]),
        "fleet_count": ("fleet", count),
        "fleet_p_charger": ("fleet", np.full(nf, 0.007)),
        "fleet_e_ev": ("fleet", e_ev),
        "fleet_eta": ("fleet", np.full(nf, 0.92)),
        "fleet_v2g": ("fleet", np.arange(nf) % 2 == 0),
        "fleet_e_init": ("fleet", count * conn[-1] * 0.55 * e_ev),
        "fleet_connected": (("snapshot", "fleet"), conn[:, None] * count[None, :]),
        "fleet_e_arrive": (("snapshot", "fleet"), arr[:, None] * (count * 0.35 * e_ev)[None, :]),
        "fleet_e_depart": (("snapshot", "fleet"), dep[:, None] * (count * 0.90 * e_ev)[None, :]),
    })
    # BESS -------------------------------------------------------------------------------
    ns = storages * dso_ids.size
    p_s = 0.06 * np.repeat(dso_peak, storages) * spread(ns)
    coords["storage"] = np.array([f"BESS{i}" for i in range(ns)], dtype=object)
    out.update({
        "storage_node": ("storage", node_ids[_pick_nodes(rng, offsets, sizes, storages)]),
        "storage_p_max": ("storage", p_s), "storage_e_max": ("storage", 3.0 * p_s),
        "storage_eta_c": ("storage", np.full(ns, 0.95)),
        "storage_eta_d": ("storage", np.full(ns, 0.95)),
        "storage_soc_min": ("storage", np.full(ns, 0.1)),
        "storage_soc_max": ("storage", np.full(ns, 0.95)),
        "storage_soc_init": ("storage", np.full(ns, 0.5)),
        "storage_cyclic": ("storage", np.ones(ns, dtype=bool)),
    })
    # DER: curtailable PV and dispatchable DG ---------------------------------------------
    npv, ndg = pv * dso_ids.size, dg * dso_ids.size
    dnode = np.concatenate([_pick_nodes(rng, offsets, sizes, pv), _pick_nodes(rng, offsets, sizes, dg)])
    rating = np.concatenate([0.08 * np.repeat(dso_peak, pv) * spread(npv),
                             0.05 * np.repeat(dso_peak, dg) * spread(ndg)])
    avail = np.concatenate([pvp[:, None] * rating[None, :npv],
                            np.ones((T, ndg)) * rating[None, npv:]], axis=1)
    coords["der"] = np.array([f"PV{i}" for i in range(npv)] + [f"DG{i}" for i in range(ndg)],
                             dtype=object)
    out.update({
        "der_node": ("der", node_ids[dnode]),
        "der_kind": ("der", np.array(["pv"] * npv + ["dg"] * ndg, dtype=object)),
        "der_p_max": ("der", rating),
        "der_p": (("snapshot", "der"), avail),
        "der_cost": ("der", np.concatenate([np.zeros(npv), rng.uniform(85.0, 110.0, ndg)])),
    })
    return xr.Dataset(out, coords=coords)


def add_markets_and_uncertainty(ds: xr.Dataset, prof: pd.DataFrame, rng: np.random.Generator,
                                samples: int = 200) -> xr.Dataset:
    """Add t_out, prices, FR↑/FR↓, interval bounds and forecast-error samples.

    Intervals: TS load ±5 %, DS load ±8 %, wind ±25 %, PV ±20 % (DG has none).
    FR↑ = 5 % of TS load + 15 % of wind, FR↓ = 3 % of TS load + 10 % of wind.
    Error samples per area: zero-mean, skewed (standardised Gamma(4)), σ of 3 % of load
    and 10 % of wind (TS) or 5 % of net load (DSO).
    """
    T = ds.sizes["snapshot"]
    h = np.arange(T) % 24
    ds["t_out"] = ("snapshot", prof["t_out"].to_numpy())
    ds["retail_price"] = ("snapshot", np.select([h < 6, (h >= 17) & (h <= 20), h >= 22],
                                                [60.0, 130.0, 60.0], 90.0))
    ds["pcc_price"] = ("snapshot", np.select([h < 6, (h >= 17) & (h <= 20), h >= 22],
                                             [35.0, 75.0, 35.0], 50.0))
    ts_load = ds["load_p"].sum("load").values if "load_p" in ds else np.zeros(T)
    wind = ds["wind_p"].sum("wind").values if "wind_p" in ds else np.zeros(T)
    ds["fr_up"] = ("snapshot", 0.05 * ts_load + 0.15 * wind)
    ds["fr_down"] = ("snapshot", 0.03 * ts_load + 0.10 * wind)

    def band(name: str, rel: float, cap: xr.DataArray | None = None) -> None:
        if name not in ds:
            return
        lo, up = ds[name] * (1 - rel), ds[name] * (1 + rel)
        if cap is not None:
            up = np.minimum(up, cap)
        ds[f"{name}_lower"], ds[f"{name}_upper"] = lo, up

    band("load_p", 0.05)
    band("node_p_load", 0.08)
    band("wind_p", 0.25, ds["wind_p"].max("snapshot") / 0.9 if "wind_p" in ds else None)
    if "der_p" in ds:
        rel = xr.where(ds["der_kind"] == "pv", 0.2, 0.0)
        ds["der_p_lower"] = ds["der_p"] * (1 - rel)
        ds["der_p_upper"] = np.minimum(ds["der_p"] * (1 + rel), ds["der_p_max"])
    areas = ["ts"] if "load_p" in ds else []
    sig = [np.hypot(0.03 * ts_load, 0.10 * wind)] if areas else []
    if "node_p_load" in ds:
        dso_load = ds["node_p_load"].groupby(ds["node_dso"]).sum().reindex(node_dso=ds["dso"].values)
        areas += list(ds["dso"].values)
        sig += list(0.05 * dso_load.transpose("node_dso", "snapshot").values)
    if areas:
        sigma = np.stack(sig, axis=-1)  # (snapshot, area)
        k = 4.0
        z = (rng.gamma(k, 1.0, (samples, T, len(areas))) - k) / np.sqrt(k)
        ds["forecast_error"] = (("sample", "snapshot", "area"), z * sigma[None])
        ds = ds.assign_coords(sample=np.arange(samples), area=np.array(areas, dtype=object))
    return ds


def rate_feeders(ds: xr.Dataset, load_factor: float = 1.5, asset_factor: float = 0.6,
                 trafo_factor: float = 1.3) -> xr.Dataset:
    """Rate branches and PCC transformers from the demand they serve.

    Rating = ``load_factor`` × downstream peak apparent load + ``asset_factor`` ×
    downstream maximum asset draw (heat pumps, appliance and shiftable loads, EV chargers,
    BESS). The transformer takes ``trafo_factor`` × the load part plus the asset part.
    Factors below 1 for assets mean they cannot all draw at once: the grid is congested
    exactly when flexibility is scheduled carelessly.
    """
    nodes = ds.indexes["node"]
    s_load = np.hypot(ds.node_p_load.max("snapshot").values, ds.node_q_load.max("snapshot").values)
    draw = np.zeros(nodes.size)
    for field, size in (("building_node", ds.get("building_hvac_max")),
                        ("building_node", ds.get("building_shift_max")),
                        ("building_node", ds.get("building_p_base", xr.DataArray()).max("snapshot")
                         if "building_p_base" in ds else None),
                        ("fleet_node", ds.fleet_count * ds.fleet_p_charger
                         if "fleet_count" in ds else None),
                        ("storage_node", ds.get("storage_p_max"))):
        if size is not None and field in ds:
            np.add.at(draw, nodes.get_indexer(ds[field].values), size.values)
    parent = nodes.get_indexer(ds.branch_node0.values)
    child = nodes.get_indexer(ds.branch_node1.values)
    down_load = downstream_sum(parent, child, s_load)
    down_draw = downstream_sum(parent, child, draw)
    ds["branch_s_max"] = ("branch", load_factor * down_load[child] + asset_factor * down_draw[child])
    roots = nodes.get_indexer(ds.dso_root.values)
    ds["dso_s_max"] = ("dso", trafo_factor * down_load[roots] + asset_factor * down_draw[roots])
    return ds
