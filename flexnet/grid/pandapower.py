"""pandapower importer (optional extra ``flexnet[pandapower]``): nets → TS or radial feeder.

Only in-service elements are imported. Lines use r/x per km × length / parallel; the
thermal rating of a line is √3 · V_n · I_max · parallel; a transformer's reactance is
vk % on its own rating, converted to the system base, and its rating is ``sn_mva``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from flexnet.errors import DataError
from flexnet.grid.matpower import feeder_dataset, orient_tree

__all__ = ["feeder_from_pandapower", "ts_from_pandapower"]


def _need_pandapower() -> Any:
    try:
        import pandapower
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the pandapower importer needs `pip install flexnet[pandapower]`") from exc
    return pandapower


def _branches(net) -> pd.DataFrame:
    """In-service lines and two-winding transformers with r, x in Ω and p.u., rating in MVA."""
    vn = net.bus.vn_kv
    ln = net.line[net.line.in_service]
    par = ln.get("parallel", pd.Series(1, index=ln.index)).astype(float)
    v = vn.loc[ln.from_bus].to_numpy()
    lines = pd.DataFrame({
        "bus0": ln.from_bus.to_numpy(), "bus1": ln.to_bus.to_numpy(),
        "r_ohm": (ln.r_ohm_per_km * ln.length_km / par).to_numpy(),
        "x_ohm": (ln.x_ohm_per_km * ln.length_km / par).to_numpy(),
        "s_max": np.sqrt(3) * v * (ln.max_i_ka * par).to_numpy(), "v_kv": v,
    }, index=[f"L{i}" for i in ln.index])
    tr = net.trafo[net.trafo.in_service] if len(net.trafo) else net.trafo
    if len(tr):
        vlv = tr.vn_lv_kv.to_numpy()
        z_ohm = tr.vk_percent.to_numpy() / 100 * vlv**2 / tr.sn_mva.to_numpy()
        r_ohm = tr.vkr_percent.to_numpy() / 100 * vlv**2 / tr.sn_mva.to_numpy()
        trafos = pd.DataFrame({
            "bus0": tr.hv_bus.to_numpy(), "bus1": tr.lv_bus.to_numpy(), "r_ohm": r_ohm,
            "x_ohm": np.sqrt(np.maximum(z_ohm**2 - r_ohm**2, 0.0)),
            "s_max": tr.sn_mva.to_numpy(), "v_kv": vlv,
        }, index=[f"T{i}" for i in tr.index])
        lines = pd.concat([lines, trafos])
    return lines


def ts_from_pandapower(
    net: Any,
    *,
    load_profile: np.ndarray | None = None,
    reserve_cost_factor: tuple[float, float] = (0.25, 0.15),
) -> xr.Dataset:
    """Convert a pandapower net to the transmission part of a system dataset.

    Generators are ``gen``, ``ext_grid`` and controllable ``sgen`` elements with their
    ``min_p_mw``/``max_p_mw``; linear costs come from ``poly_cost`` (secant slope over
    [0, P̄] of a quadratic, as for MATPOWER). Non-controllable ``sgen`` output is
    netted against the load at its bus.
    """
    _need_pandapower()
    prof = np.ones(1) if load_profile is None else np.asarray(load_profile, dtype=float)
    bus = net.bus[net.bus.in_service]
    br = _branches(net)
    base = float(net.sn_mva)
    x_pu = np.maximum(br.x_ohm.to_numpy() / (br.v_kv.to_numpy() ** 2 / base), 1e-4)
    parts = []
    for kind in ("gen", "ext_grid", "sgen"):
        t = getattr(net, kind)
        if not len(t):
            continue
        t = t[t.in_service]
        if kind == "sgen":
            t = t[t.get("controllable", pd.Series(False, index=t.index)).fillna(False).astype(bool)]
        p_max = t.get("max_p_mw", pd.Series(np.nan, index=t.index)).astype(float)
        if p_max.isna().any():
            i = p_max.index[p_max.isna()][0]
            raise DataError(f"{kind} {i}: field 'max_p_mw' is missing; set it in the pandapower net")
        p_min = t.get("min_p_mw", pd.Series(0.0, index=t.index)).fillna(0.0).clip(lower=0)
        parts.append(pd.DataFrame({"et": kind, "element": t.index, "bus": t.bus.to_numpy(),
                                   "p_max": p_max.to_numpy(), "p_min": p_min.to_numpy()}))
    gens = pd.concat(parts, ignore_index=True)
    gens = gens[gens.p_max > 0].reset_index(drop=True)
    cost = np.zeros(len(gens))
    if len(net.poly_cost):
        pc = net.poly_cost.set_index(["et", "element"])
        key = pd.MultiIndex.from_arrays([gens.et, gens.element])
        found = key.isin(pc.index)
        c1 = pc.cp1_eur_per_mw.reindex(key).fillna(0.0).to_numpy()
        c2 = pc.cp2_eur_per_mw2.reindex(key).fillna(0.0).to_numpy()
        cost = np.where(found, c1 + c2 * gens.p_max.to_numpy(), 0.0)
    ld = net.load[net.load.in_service]
    p_load = (ld.p_mw * ld.scaling).groupby(ld.bus).sum()
    if len(net.sgen):
        fixed = net.sgen[net.sgen.in_service & ~net.sgen.get(
            "controllable", pd.Series(False, index=net.sgen.index)).fillna(False).astype(bool)]
        p_load = p_load.sub((fixed.p_mw * fixed.scaling).groupby(fixed.bus).sum(), fill_value=0.0)
    p_load = p_load[p_load > 0]
    bus_ids = bus.index.astype(str).to_numpy().astype(object)
    cost = np.maximum(cost, 0.0)
    return xr.Dataset(
        {
            "line_bus0": ("line", br.bus0.astype(str).to_numpy().astype(object)),
            "line_bus1": ("line", br.bus1.astype(str).to_numpy().astype(object)),
            "line_x": ("line", x_pu),
            "line_s_max": ("line", br.s_max.to_numpy()),
            "gen_bus": ("gen", gens.bus.astype(str).to_numpy().astype(object)),
            "gen_p_max": ("gen", gens.p_max.to_numpy()),
            "gen_p_min": ("gen", np.minimum(gens.p_min.to_numpy(), gens.p_max.to_numpy())),
            "gen_ramp": ("gen", gens.p_max.to_numpy()),
            "gen_cost": ("gen", cost),
            "gen_cost_r_up": ("gen", reserve_cost_factor[0] * cost),
            "gen_cost_r_down": ("gen", reserve_cost_factor[1] * cost),
            "load_bus": ("load", p_load.index.astype(str).to_numpy().astype(object)),
            "load_p": (("snapshot", "load"), prof[:, None] * p_load.to_numpy()[None, :]),
        },
        coords={"snapshot": np.arange(prof.size), "bus": bus_ids,
                "line": br.index.to_numpy().astype(object),
                "gen": np.array([f"{e}{i}" for e, i in zip(gens.et, gens.element, strict=True)],
                                dtype=object),
                "load": np.array([f"D{b}" for b in p_load.index], dtype=object)},
        attrs={"base_mva": base},
    )


def feeder_from_pandapower(
    net: Any,
    dso: str,
    *,
    load_profile: np.ndarray | None = None,
    rating_factor: float = 1.5,
) -> xr.Dataset:
    """Convert a radial pandapower net (one ``ext_grid``) into one DSO's feeder.

    Branch ratings come from the net (√3 V I); where a line has no finite rating,
    ``rating_factor`` × the downstream peak apparent load is used.
    """
    _need_pandapower()
    from flexnet.grid.assets import downstream_sum

    prof = np.ones(1) if load_profile is None else np.asarray(load_profile, dtype=float)
    bus = net.bus[net.bus.in_service]
    pos = pd.Index(bus.index)
    eg = net.ext_grid[net.ext_grid.in_service]
    if len(eg) != 1:
        raise DataError(f"feeder {dso}: a radial feeder needs exactly one in-service ext_grid "
                        f"(found {len(eg)})")
    root = int(pos.get_loc(eg.bus.iloc[0]))
    br = _branches(net)
    parent, child = orient_tree(pos.size, pos.get_indexer(br.bus0), pos.get_indexer(br.bus1), root,
                                dso)
    ld = net.load[net.load.in_service]
    p = (ld.p_mw * ld.scaling).groupby(ld.bus).sum().reindex(pos, fill_value=0.0).to_numpy()
    q = (ld.q_mvar * ld.scaling).groupby(ld.bus).sum().reindex(pos, fill_value=0.0).to_numpy()
    down = downstream_sum(parent, child, np.hypot(p, q))
    rating = br.s_max.to_numpy()
    rating = np.where(np.isfinite(rating) & (rating > 0) & (rating < 1e5), rating,
                      np.maximum(rating_factor * down[child], 1e-3))
    node_ids = np.array([f"{dso}-n{i}" for i in pos], dtype=object)
    v_kv = float(bus.vn_kv.iloc[root])
    v0 = float(eg.vm_pu.iloc[0]) if "vm_pu" in eg else 1.0
    vmin = float(bus.get("min_vm_pu", pd.Series(0.95, index=bus.index)).fillna(0.95).min())
    vmax = float(bus.get("max_vm_pu", pd.Series(1.05, index=bus.index)).fillna(1.05).max())
    return feeder_dataset(
        dso, node_ids, np.array([f"{dso}-{i}" for i in br.index], dtype=object), root, parent,
        child, r=np.maximum(br.r_ohm.to_numpy(), 1e-4), x=np.maximum(br.x_ohm.to_numpy(), 1e-4),
        s_max=rating, trafo=1.3 * float(down[root]), p_peak=p, q_peak=q, profile=prof,
        v_kv=v_kv, v0=v0, v_band=(min(vmin, v0), max(vmax, v0)))
