"""pandapower importer (optional extra ``flexnet[pandapower]``): nets → TS or radial feeder.

Only in-service elements are imported. Lines use r/x per km × length / parallel; the
thermal rating of a line is √3 · V_n · I_max · parallel; a transformer's reactance is
vk % on its own rating, converted to the system base, and its rating is ``sn_mva``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from flexnet.errors import DataError
from flexnet.grid.matpower import feeder_dataset
from flexnet.grid.topology import orient_tree

logger = logging.getLogger(__name__)

__all__ = ["feeder_from_pandapower", "feeders_from_pandapower", "ts_from_pandapower"]


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


def _series(table: pd.DataFrame, given: pd.DataFrame | None, col: str, prof: np.ndarray,
            kind: str) -> pd.DataFrame:
    """Absolute values (snapshot × element) of ``table[col]``: the caller's time series, or
    the rated value × ``scaling`` × the profile."""
    if given is None:
        rated = (table[col] * table.get("scaling", 1.0)).to_numpy(dtype=float)
        return pd.DataFrame(np.outer(prof, rated), columns=table.index)
    missing = table.index.difference(given.columns)
    if len(missing):
        raise DataError(f"{kind} {missing[0]}: no column in the time series given for it "
                        f"({len(missing)} {kind}s missing)")
    out = given[table.index].astype(float)
    if not np.isfinite(out.to_numpy()).all():
        bad = out.columns[~np.isfinite(out.to_numpy()).all(axis=0)][0]
        raise DataError(f"{kind} {bad}: its time series has a NaN or infinite value")
    return out.reset_index(drop=True)


def _controllable(t: pd.DataFrame) -> np.ndarray:
    """The ``controllable`` flag of each row (missing or NaN: not controllable)."""
    return t.get("controllable", pd.Series(False, index=t.index)).eq(True).to_numpy()


def _live_branches(net, rep: pd.Series, open_lines: set, open_trafos: set) -> pd.DataFrame:
    """:func:`_branches` without those an open switch disconnects, on fused buses."""
    br = _branches(net)
    kind = br.index.str[0]
    element = br.index.str[1:].astype(int)
    keep = ~(((kind == "L") & np.isin(element, list(open_lines)))
             | ((kind == "T") & np.isin(element, list(open_trafos))))
    return br[keep].assign(bus0=rep.loc[br.bus0[keep]].to_numpy(),
                           bus1=rep.loc[br.bus1[keep]].to_numpy())


def ts_from_pandapower(
    net: Any,
    *,
    load_profile: np.ndarray | None = None,
    p_load: pd.DataFrame | None = None,
    p_sgen: pd.DataFrame | None = None,
    renewables: str = "netted",
    gen_cost: pd.Series | None = None,
    must_run: bool = True,
    reserve_cost_factor: tuple[float, float] = (0.25, 0.15),
) -> xr.Dataset:
    """Convert a pandapower net to the transmission part of a system dataset.

    Switches are honoured as for feeders: closed bus–bus switches fuse their buses, open
    line and transformer switches remove the element; islands without a generator are
    an error. Generators are ``gen``, ``ext_grid`` and controllable ``sgen`` elements with
    their ``min_p_mw``/``max_p_mw``; linear costs come from ``poly_cost`` (secant slope
    over [0, P̄] of a quadratic, as for MATPOWER) unless ``gen_cost`` gives them. Loads
    are summed per bus; a bus whose loads are net generation in some hour gets that
    surplus as a curtailable renewable (``wind`` id ``S<bus>``).

    Parameters
    ----------
    net : pandapowerNet
    load_profile : array of shape (snapshot,), optional
        Multiplier of every load (and netted sgen); default one hour at 1.
    p_load, p_sgen : DataFrame (snapshot × element index), optional
        Absolute active power of each load / non-controllable sgen in MW (e.g. a
        SimBench day); they replace ``p_mw × scaling × load_profile``.
    renewables : {"netted", "curtailable"}
        Non-controllable sgens are netted against the load at their bus, or become
        curtailable ``wind`` elements (id ``sgen<i>``) with their output as available power.
    gen_cost : Series, optional
        $/MWh by flexnet generator id (``gen<i>``, ``ext_grid<i>``, ``sgen<i>``); others
        from ``poly_cost``.
    must_run : bool
        Keep ``min_p_mw`` as a must-run output (there is no unit commitment); False sets
        every minimum to 0.
    """
    _need_pandapower()
    import networkx as nx

    if renewables not in ("netted", "curtailable"):
        raise DataError(f"renewables must be 'netted' or 'curtailable', not {renewables!r}")
    T = next((len(d) for d in (p_load, p_sgen) if d is not None),
             1 if load_profile is None else np.asarray(load_profile).size)
    prof = np.ones(T) if load_profile is None else np.asarray(load_profile, dtype=float)
    rep, open_lines, open_trafos = _switch_topology(net)
    live = rep.loc[net.bus.index[net.bus.in_service.astype(bool)]].unique()
    br = _live_branches(net, rep, open_lines, open_trafos)
    br = br[br.bus0 != br.bus1]  # closed switches fused both ends
    n_out = sum(int((~getattr(net, t).in_service.astype(bool)).sum())
                for t in ("line", "trafo", "gen", "sgen", "load", "ext_grid") if len(getattr(net, t)))
    if n_out:
        logger.info("pandapower: %d out-of-service elements dropped", n_out)
    # a 100 MVA base whatever the net's sn_mva (SimBench's is 1 MVA, on which short EHV
    # lines are < 1e-6 p.u.); the base only scales p.u. values, not flows
    base = 100.0
    x_pu = br.x_ohm.to_numpy() / (br.v_kv.to_numpy() ** 2 / base)
    if not (x_pu > 0).all():
        i = br.index[~(x_pu > 0)][0]
        raise DataError(f"{'line' if i[0] == 'L' else 'trafo'} {i[1:]}: reactance must be > 0 "
                        "for the DC model")
    parts = []
    for kind in ("gen", "ext_grid", "sgen"):  # three element tables, not a loop over elements
        t = getattr(net, kind)
        if not len(t):
            continue
        t = t[t.in_service.astype(bool)]
        if kind == "sgen":
            t = t[_controllable(t)]
        p_max = t.get("max_p_mw", pd.Series(np.nan, index=t.index)).astype(float)
        if p_max.isna().any():
            i = p_max.index[p_max.isna()][0]
            raise DataError(f"{kind} {i}: field 'max_p_mw' is missing; set it in the pandapower net")
        p_min = t.get("min_p_mw", pd.Series(0.0, index=t.index)).astype(float).fillna(0.0).clip(lower=0)
        parts.append(pd.DataFrame({"et": kind, "element": t.index,
                                   "bus": rep.loc[t.bus].to_numpy(),
                                   "p_max": p_max.to_numpy(),
                                   "p_min": p_min.to_numpy() if must_run else 0.0}))
    if not parts:
        raise DataError("the net has no in-service gen, ext_grid or controllable sgen")
    gens = pd.concat(parts, ignore_index=True)
    gens = gens[gens.p_max > 0].reset_index(drop=True)
    gen_ids = np.array([f"{e}{i}" for e, i in zip(gens.et, gens.element, strict=True)], dtype=object)
    cost = np.zeros(len(gens))
    if len(net.poly_cost):
        pc = net.poly_cost.set_index(["et", "element"])
        key = pd.MultiIndex.from_arrays([gens.et, gens.element])
        found = key.isin(pc.index)
        c1 = pc.cp1_eur_per_mw.reindex(key).fillna(0.0).to_numpy()
        c2 = pc.cp2_eur_per_mw2.reindex(key).fillna(0.0).to_numpy()
        cost = np.where(found, c1 + c2 * gens.p_max.to_numpy(), 0.0)
    if gen_cost is not None:
        given = gen_cost.reindex(gen_ids).to_numpy(dtype=float)
        cost = np.where(np.isfinite(given), given, cost)
    cost = np.maximum(cost, 0.0)
    ld = net.load[net.load.in_service.astype(bool)]
    load = _series(ld, p_load, "p_mw", prof, "load")
    per_bus = load.T.groupby(rep.loc[ld.bus].to_numpy()).sum().T
    sg = net.sgen[net.sgen.in_service.astype(bool)] if len(net.sgen) else net.sgen
    if len(sg):
        sg = sg[~_controllable(sg)]
    res = _series(sg, p_sgen, "p_mw", prof, "sgen") if len(sg) else pd.DataFrame(index=range(T))
    if len(sg) and renewables == "netted":
        per_bus = per_bus.sub(res.T.groupby(rep.loc[sg.bus].to_numpy()).sum().T, fill_value=0.0)
    per_bus = per_bus.loc[:, (per_bus.abs() > 0).any()]
    demand, surplus = per_bus.clip(lower=0), (-per_bus).clip(lower=0)
    demand = demand.loc[:, (demand > 0).any()]
    surplus = surplus.loc[:, (surplus > 0).any()]
    wind_bus = [f"{b}" for b in surplus.columns]
    wind_ids = [f"S{b}" for b in surplus.columns]
    wind_p = [surplus.to_numpy()]
    if len(sg) and renewables == "curtailable":
        wind_bus += list(rep.loc[sg.bus].astype(str))
        wind_ids += [f"sgen{i}" for i in sg.index]
        wind_p.append(res.clip(lower=0).to_numpy())
    # islands: every part of the graph needs a generator to balance it
    g = nx.Graph()
    g.add_nodes_from(live)
    g.add_edges_from(zip(br.bus0, br.bus1, strict=True))
    has_gen = set(gens.bus)
    used = has_gen | set(demand.columns) | set(surplus.columns) | set(br.bus0) | set(br.bus1)
    if len(sg) and renewables == "curtailable":
        used |= set(rep.loc[sg.bus])
    for comp in nx.connected_components(g):  # a few islands at most
        if comp & used and not comp & has_gen:
            b = min(comp)
            raise DataError(f"bus {b}: its island ({len(comp)} buses after switches) has no "
                            "generator; close a switch or add an ext_grid/gen")
    bus_ids = np.array(sorted(b for b in live if b in used), dtype=object)
    ds = xr.Dataset(
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
            "load_bus": ("load", demand.columns.astype(str).to_numpy().astype(object)),
            "load_p": (("snapshot", "load"), demand.to_numpy()),
        },
        coords={"snapshot": np.arange(T), "bus": bus_ids.astype(str).astype(object),
                "line": br.index.to_numpy().astype(object), "gen": gen_ids,
                "load": np.array([f"D{b}" for b in demand.columns], dtype=object)},
        attrs={"base_mva": base},
    )
    if wind_ids:
        ds = ds.assign_coords(wind=np.array(wind_ids, dtype=object)).assign(
            wind_bus=("wind", np.array(wind_bus, dtype=object)),
            wind_p=(("snapshot", "wind"), np.hstack(wind_p)))
    return ds


def _switch_topology(net) -> tuple[pd.Series, set, set]:
    """Bus fusion by closed bus–bus switches (each bus → its representative), and the
    lines and transformers an open switch disconnects."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    buses = pd.Index(net.bus.index)
    sw = net.switch if len(net.switch) else pd.DataFrame(
        columns=["bus", "element", "et", "closed"])
    closed = sw.closed.astype(bool)
    bb = sw[(sw.et == "b") & closed]
    a, b = buses.get_indexer(bb.bus), buses.get_indexer(bb.element)
    g = coo_matrix((np.ones(a.size), (a, b)), shape=(buses.size, buses.size))
    _, label = connected_components(g, directed=False)
    first = pd.Series(buses, index=label).groupby(level=0).min()  # lowest id per group
    rep = pd.Series(first.loc[label].to_numpy(), index=buses)
    open_lines = set(sw[(sw.et == "l") & ~closed].element.astype(int))
    open_trafos = set(sw[(sw.et == "t") & ~closed].element.astype(int))
    return rep, open_lines, open_trafos


def _merge_parallel(feeding: pd.DataFrame) -> pd.DataFrame:
    """Feeding transformers between the same two (fused) buses as one: summed rating,
    impedances in parallel; the id joins theirs with '+'."""
    groups = feeding.groupby(["bus0", "bus1"], sort=False)
    if groups.ngroups == len(feeding):
        return feeding
    z = 1 / (1 / (feeding.r_ohm + 1j * feeding.x_ohm)).groupby(
        [feeding.bus0, feeding.bus1], sort=False).sum()
    out = groups.agg(s_max=("s_max", "sum"), v_kv=("v_kv", "first")).reset_index()
    out["r_ohm"], out["x_ohm"] = z.to_numpy().real, z.to_numpy().imag
    out.index = groups.apply(lambda g: "+".join(g.index), include_groups=False).to_numpy()
    return out[feeding.columns]


def _storage(st: pd.DataFrame, rep: pd.Series, dso: str, eta: float,
             hours: float | None) -> xr.Dataset:
    """pandapower ``storage`` rows as flexnet BESS fields."""
    ids = np.array([f"{dso}-storage{i}" for i in st.index], dtype=object)
    col = lambda c, d: st.get(c, pd.Series(d, index=st.index)).astype(float).fillna(d)  # noqa: E731
    p_max = np.max([col("sn_mva", 0.0).abs(), col("max_p_mw", 0.0).abs(),
                    col("min_p_mw", 0.0).abs(), col("p_mw", 0.0).abs()], axis=0)
    e_max = col("max_e_mwh", np.nan).to_numpy()
    if hours is not None:
        e_max = np.where(np.isfinite(e_max), e_max, hours * p_max)
    bad = ~(np.isfinite(e_max) & (e_max > 0)) | ~(p_max > 0)
    if bad.any():
        i = st.index[bad][0]
        raise DataError(f"storage {i}: field 'max_e_mwh' (and a power rating) must be positive "
                        "to import it as a BESS; set it, or pass storage_hours=")
    n = ids.size
    return xr.Dataset({
        "storage_node": ("storage", np.array([f"{dso}-n{b}" for b in rep.loc[st.bus]], dtype=object)),
        "storage_p_max": ("storage", p_max),
        "storage_e_max": ("storage", e_max),
        "storage_eta_c": ("storage", np.full(n, eta)),
        "storage_eta_d": ("storage", np.full(n, eta)),
        "storage_soc_min": ("storage", np.clip(col("min_e_mwh", 0.0).to_numpy() / e_max, 0, 1)),
        "storage_soc_max": ("storage", np.ones(n)),
        "storage_soc_init": ("storage", np.clip(col("soc_percent", 50.0).to_numpy() / 100, 0, 1)),
        "storage_cyclic": ("storage", np.ones(n, dtype=bool)),
    }, coords={"storage": ids})


def _trafo_ratio(tr: pd.Series) -> float:
    """Off-nominal ratio of a two-winding transformer from its tap (HV-side tap assumed
    unless ``tap_side`` says "lv"): the MV side sees the HV voltage divided by it."""
    pos, neutral = tr.get("tap_pos", np.nan), tr.get("tap_neutral", np.nan)
    step = tr.get("tap_step_percent", np.nan)
    if not (np.isfinite(pos) and np.isfinite(neutral) and np.isfinite(step)):
        return 1.0
    t = 1 + (pos - neutral) * step / 100
    return 1 / t if str(tr.get("tap_side", "hv")) == "lv" else t


def feeders_from_pandapower(
    net: Any,
    prefix: str = "pp",
    *,
    load_profile: np.ndarray | None = None,
    pv_profile: np.ndarray | None = None,
    p_load: pd.DataFrame | None = None,
    q_load: pd.DataFrame | None = None,
    p_sgen: pd.DataFrame | None = None,
    rating_factor: float = 1.5,
    der_cost: float = 0.0,
    storage_eta: float = 0.95,
    storage_hours: float | None = None,
    names: list[str] | None = None,
) -> list[xr.Dataset]:
    """Radial feeders of a pandapower distribution net, one per HV/MV transformer fed by
    an ``ext_grid`` (or one per ``ext_grid`` on an MV bus), each its own ``dso``.

    Switches are honoured: open line and transformer switches remove the element, closed
    bus–bus switches fuse their buses. The feeding transformer becomes the PCC: its rating
    is ``dso_s_max`` and its impedance (referred to the MV side) the first branch, from a
    root node at the ``ext_grid`` voltage divided by the tap ratio; transformers in
    parallel (same HV and MV bus after switches) form one PCC with their summed rating
    and parallel impedance. Each feeder's nominal
    voltage is that of its MV buses (r and x are in Ω at that level). Loads keep P and Q;
    static generators (``sgen``) become PV assets (``der_kind`` "pv", curtailable, output
    the sgen's P times ``pv_profile``) — their reactive output is not modelled. A
    ``storage`` becomes a BESS: power limit ``max(sn_mva, |max_p_mw|, |min_p_mw|,
    |p_mw|)``, energy ``max_e_mwh``, minimum state of charge ``min_e_mwh / max_e_mwh``,
    initial ``soc_percent``, efficiency ``storage_eta`` each way (pandapower has none),
    cyclic over the day.

    Parameters
    ----------
    net : pandapowerNet
    prefix : str
        DSO ids are ``{prefix}{i}``, nodes ``{dso}-n{bus}``.
    load_profile, pv_profile : array of shape (snapshot,), optional
        Multipliers of the loads and of the sgens (default one hour at 1).
    p_load, q_load, p_sgen : DataFrame (snapshot × element index), optional
        Absolute P and Q of each load and P of each sgen in MW/Mvar (e.g. a SimBench
        day); they replace the rated values × ``scaling`` × the profiles.
    rating_factor : float
        Lines without a finite rating get this × their downstream peak apparent load.
    der_cost : float
        Energy cost of the imported PV ($/MWh).
    storage_eta : float
        Charge and discharge efficiency of imported storage.
    storage_hours : float, optional
        Energy of a storage without ``max_e_mwh``, in hours at its power limit (else
        such a storage is an error).
    names : list of str, optional
        DSO ids in feeding order (instead of ``{prefix}{i}``).

    Raises
    ------
    DataError
        A feeder that is meshed (the message names the buses of one loop), two feeding
        transformers in one connected part, or no ``ext_grid``.
    """
    _need_pandapower()
    import networkx as nx

    from flexnet.grid.topology import downstream_sum

    T = next((len(d) for d in (p_load, q_load, p_sgen) if d is not None),
             1 if load_profile is None else np.asarray(load_profile).size)
    prof = np.ones(T) if load_profile is None else np.asarray(load_profile, dtype=float)
    pv_prof = np.ones(T) if pv_profile is None else np.asarray(pv_profile, float)
    rep, open_lines, open_trafos = _switch_topology(net)
    live = net.bus.index[net.bus.in_service.astype(bool)]
    eg = net.ext_grid[net.ext_grid.in_service.astype(bool)]
    if not len(eg):
        raise DataError(f"{prefix}: the net has no in-service ext_grid to feed it")
    eg_bus = set(rep.loc[eg.bus].to_numpy())
    br = _live_branches(net, rep, open_lines, open_trafos)
    feeding = br[(br.index.str[0] == "T") & br.bus0.isin(eg_bus)]  # HV side at an ext_grid
    inner = br.drop(feeding.index)
    feeding = _merge_parallel(feeding)
    g = nx.MultiGraph()
    g.add_nodes_from(rep.loc[live].unique())
    g.add_edges_from(zip(inner.bus0, inner.bus1, inner.index, strict=True))
    if len(feeding):
        starts = [(t, int(feeding.loc[t, "bus1"])) for t in feeding.index]
    else:  # ext_grids on MV buses feed their feeders directly
        starts = [(None, int(b)) for b in sorted(eg_bus)]
    ld = net.load[net.load.in_service.astype(bool)]
    at = rep.loc[ld.bus].to_numpy()
    p_all = _series(ld, p_load, "p_mw", prof, "load").T.groupby(at).sum().T
    q_all = _series(ld, q_load, "q_mvar", prof, "load").T.groupby(at).sum().T
    if (p_all < -1e-9).any().any():
        b = p_all.columns[(p_all < -1e-9).any()][0]
        raise DataError(f"bus {b}: its loads are net generation in some hour; model that "
                        "output as an sgen")
    sg = net.sgen[net.sgen.in_service.astype(bool)] if len(net.sgen) else net.sgen
    sg_p = _series(sg, p_sgen, "p_mw", pv_prof, "sgen").clip(lower=0) if len(sg) else None
    st = net.storage[net.storage.in_service.astype(bool)] if len(net.storage) else net.storage
    seen: dict[int, str] = {}
    out = []
    for k, (trafo, start) in enumerate(starts):  # one loop step per feeder (a few)
        dso = names[k] if names and k < len(names) else f"{prefix}{k}"
        comp = nx.node_connected_component(g, start)
        owner = next((seen[b] for b in comp if b in seen), None)
        if owner is not None:
            raise DataError(f"dso {dso}: transformer {trafo} feeds the same network as "
                            f"{owner}; open a switch between them (pandapower net.switch)")
        seen.update(dict.fromkeys(comp, f"transformer {trafo}"))
        sub = g.subgraph(comp)
        if sub.number_of_edges() != sub.number_of_nodes() - 1:
            loop = nx.find_cycle(sub)
            raise DataError(f"dso {dso}: feeder is meshed; loop through buses "
                            f"{[int(e[0]) for e in loop]} (branches {[e[2] for e in loop]}); "
                            "open a switch in it")
        buses = pd.Index(sorted(comp))
        edges = inner.loc[[d[2] for d in sub.edges(keys=True)]]
        v_kv = float(net.bus.vn_kv.loc[start])
        if trafo is not None:  # the transformer: root (HV, referred to MV) → its MV bus
            tr = net.trafo.loc[int(trafo.split("+")[0][1:])]
            hv_root = -1
            nodes = buses.insert(0, hv_root)
            edges = pd.concat([feeding.loc[[trafo]].assign(bus0=hv_root), edges])
            v0 = float(eg.vm_pu[rep.loc[eg.bus].to_numpy() == rep.loc[tr.hv_bus]].iloc[0]) \
                / _trafo_ratio(tr)
            s_pcc = float(feeding.loc[trafo, "s_max"])
        else:
            nodes = buses
            v0 = float(eg.vm_pu[rep.loc[eg.bus].to_numpy() == start].iloc[0])
            s_pcc = np.nan
        root = int(nodes.get_loc(hv_root if trafo is not None else start))
        parent, child = orient_tree(nodes.size, nodes.get_indexer(edges.bus0),
                                    nodes.get_indexer(edges.bus1), root, dso)
        p = p_all.reindex(columns=nodes, fill_value=0.0).to_numpy()
        q = q_all.reindex(columns=nodes, fill_value=0.0).to_numpy()
        down = downstream_sum(parent, child, np.hypot(p, q).max(axis=0))
        rating = edges.s_max.to_numpy()
        rating = np.where(np.isfinite(rating) & (rating > 0) & (rating < 1e5), rating,
                          np.maximum(rating_factor * down[child], 1e-3))
        if not np.isfinite(s_pcc):
            s_pcc = 1.3 * float(down[root])
        node_ids = np.array([f"{dso}-hv" if b == -1 else f"{dso}-n{b}" for b in nodes],
                            dtype=object)
        vb = net.bus.loc[buses]
        vmin = float(vb.get("min_vm_pu", pd.Series(0.9, index=vb.index)).fillna(0.9).min())
        vmax = float(vb.get("max_vm_pu", pd.Series(1.1, index=vb.index)).fillna(1.1).max())
        ds = feeder_dataset(
            dso, node_ids, np.array([f"{dso}-{i}" for i in edges.index], dtype=object), root,
            parent, child, r=np.maximum(edges.r_ohm.to_numpy(), 1e-4),
            x=np.maximum(edges.x_ohm.to_numpy(), 1e-4), s_max=rating, trafo=s_pcc,
            p_peak=p, q_peak=q, profile=np.ones(T), v_kv=v_kv, v0=v0,
            v_band=(min(vmin, v0, 0.9), max(vmax, v0, 1.1)))
        mine = sg[rep.loc[sg.bus].isin(buses).to_numpy()] if len(sg) else sg
        if len(mine):
            pv = sg_p[mine.index]
            mine = mine[(pv.max() > 0).to_numpy()]
        if len(mine):
            avail = sg_p[mine.index].to_numpy()
            ids = np.array([f"{dso}-sgen{i}" for i in mine.index], dtype=object)
            ds = ds.assign_coords(der=ids).assign(
                der_node=("der", np.array([f"{dso}-n{b}" for b in rep.loc[mine.bus]],
                                          dtype=object)),
                der_kind=("der", np.full(ids.size, "pv", dtype=object)),
                der_p_max=("der", np.maximum((mine.p_mw * mine.scaling).to_numpy(),
                                             avail.max(axis=0))),
                der_cost=("der", np.full(ids.size, der_cost)),
                der_p=(("snapshot", "der"), avail))
        bess = st[rep.loc[st.bus].isin(buses).to_numpy()] if len(st) else st
        if len(bess):
            ds = ds.merge(_storage(bess, rep, dso, storage_eta, storage_hours))
        out.append(ds)
    return out


def feeder_from_pandapower(
    net: Any,
    dso: str,
    *,
    load_profile: np.ndarray | None = None,
    rating_factor: float = 1.5,
) -> xr.Dataset:
    """One radial feeder from a pandapower net fed at one point (see
    :func:`feeders_from_pandapower`, which splits a net with several feeding points)."""
    parts = feeders_from_pandapower(net, dso, load_profile=load_profile,
                                    rating_factor=rating_factor, names=[dso])
    if len(parts) != 1:
        raise DataError(f"feeder {dso}: the net has {len(parts)} feeding points (ext_grids or "
                        "HV/MV transformers); use feeders_from_pandapower")
    return parts[0]
