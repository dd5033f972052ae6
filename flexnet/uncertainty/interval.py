"""Interval two-stage algorithm (Mansouri et al. 2023, reconstructed).

**Stage 1** plans the day on the forecast (the ``centralized`` scheme by default; any
scheme that accepts a ``hook`` works).

**Stage 2** checks the interval extremes, each an independent LP:

- ``high``: net load at its highest — loads at their upper bounds, PV and wind at their
  lower bounds; ``low``: the opposite;
- ``high@h`` / ``low@h``: only hour h at the extreme, for every hour where the all-day
  extreme was not covered (per-hour extremes "where they bind").

Day-ahead decisions stay fixed: generator output may move only within its procured
reserve, the PCC exchange only within the DSO flexibility the TSO procured, buildings,
EV fleets and DG keep their schedules. BESS power and energy absorb the deviation (PV may
be curtailed at a penalty); voltages and branch limits must still hold. What cannot be
absorbed is shed at VOLL (or, at the PCC, reported as an uncovered deviation).

**Repair.** If an extreme is not covered, stage 1 is solved again with BESS headroom
reserved in each uncovered DSO and hour (power and one hour of energy), adding the
uncovered amount each round, until every extreme is covered or ``max_rounds`` is reached;
what remains uncovered is reported with hour, DSO and MW.

Stage-2 solves fan out with :func:`flexnet.parallel.fan_out` (serially, or on dask) in
batches of one kind. Every scenario is the ``forecast`` LP of the plan with its bounds
shifted: the driver builds that LP and the shifts once per plan (:func:`stage2_lp`) and
sends them as arrays; each batch hands the LP to HiGHS once and re-solves it warm for
each of its scenarios (:func:`stage2_batch`), with no model build on the workers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import linopy
import numpy as np
import xarray as xr

from flexnet import blocks as b
from flexnet.blocks.common import aggregate, asset_dso, coords
from flexnet.blocks.network_ts import InjectionFlows, LazyLineRows, monitor, ts_demand
from flexnet.coordination.centralized import LAZY_TOL, objective, solve_with_network
from flexnet.errors import DataError, InfeasibleError, SolverError
from flexnet.parallel import executor, fan_out
from flexnet.solver import HighsLP, PersistentLP, checked, new_highs, new_model

if TYPE_CHECKING:
    from flexnet.grid.system import System
    from flexnet.results import Result

__all__ = ["Stage2LP", "scenario_profiles", "solve_interval", "stage2", "stage2_batch",
           "stage2_lp"]

log = logging.getLogger("flexnet")

#: most scenarios in one batch (one task; it re-solves one model warm)
BATCH = 12
#: penalty on curtailing PV in stage 2 ($/MWh): BESS should act first
PV_CURTAIL_PENALTY = 10.0


def scenario_profiles(ds: xr.Dataset, name: str) -> dict[str, xr.DataArray]:
    """Load, wind, node load and DER availability of a named extreme scenario."""
    kind, _, hour = name.partition("@")
    if kind == "forecast" and not hour:
        return {base: ds[base] for base in ("load_p", "node_p_load", "wind_p", "der_p")
                if base in ds}
    if kind not in ("high", "low"):
        raise ValueError(f"unknown scenario {name!r}; use 'high', 'low', 'high@<h>', 'low@<h>'")
    up = kind == "high"
    pick = {"load_p": "upper" if up else "lower", "node_p_load": "upper" if up else "lower",
            "wind_p": "lower" if up else "upper", "der_p": "lower" if up else "upper"}
    out = {}
    for base, side in pick.items():
        if base not in ds:
            continue
        ext = ds[f"{base}_{side}"]
        if hour:
            at = ds.snapshot == ds.snapshot.values[int(hour)]
            ext = xr.where(at, ext, ds[base])
        out[base] = ext.transpose(*ds[base].dims)
    return out


def stage2(name: str, system_ds: xr.Dataset, plan: xr.Dataset,
           formulation: str = "angle") -> xr.Dataset:
    """Solve one extreme scenario with day-ahead decisions fixed; return its outcome.

    Runs on dask workers: it takes plain datasets and builds its own model.
    """
    from flexnet.grid.system import System

    system = System(system_ds, validate=False)
    prof = scenario_profiles(system.ds, name)
    m, _, _ = solve_with_network(
        lambda on: _build_stage2(system, plan, prof, formulation, monitored=on), system,
        formulation, scheme=f"interval/{name}", options={})
    return _outcome({v: m.variables[v].solution for v in _OUTCOME_VARS if v in m.variables},
                    system, float(m.objective.value))


@dataclass(frozen=True)
class Stage2LP:
    """The plan's ``forecast`` stage-2 LP as arrays, and how each extreme shifts its bounds.

    ``lp`` holds the LP (costs, bounds, matrix, objective offset); ``delta[kind]``
    (column lower, column upper, row lower, row upper) of the ``kind`` LP minus the
    forecast LP's, in solver order; ``col_hour`` and ``row_hour`` each entry's snapshot
    position; ``columns`` the solver columns of the variables :func:`_outcome` reads
    (−1 where masked), labeled like the variables. Built on the driver
    (:func:`stage2_lp`) and sent to the workers, which need no model build. With the
    ``lazy`` formulation ``lines`` are the monitored line positions and ``flows`` checks
    the others after each solve.
    """

    lp: dict[str, Any]  # costs, bounds, matrix (HiGHS's format), objective offset
    delta: dict[str, tuple[np.ndarray, ...]]
    col_hour: np.ndarray
    row_hour: np.ndarray
    columns: dict[str, xr.DataArray]
    lines: np.ndarray | None = None
    flows: InjectionFlows | None = None

    def solution(self, x: np.ndarray, plan: bool = True) -> dict[str, xr.DataArray]:
        """Labeled values of :attr:`columns` at column values ``x`` (NaN where masked);
        without the ``Plan-*`` columns unless ``plan``."""
        return {v: pos.copy(data=np.where(pos.values >= 0, x[pos.values], np.nan))
                for v, pos in self.columns.items() if plan or not v.startswith("Plan-")}

    def shift(self, name: str) -> tuple[np.ndarray, ...]:
        """The shift of a scenario: ``kind``, or ``kind@h`` (the kind's shift at hour h)."""
        kind, _, hour = name.partition("@")
        d = self.delta[kind]
        if not hour:
            return d
        at = (self.col_hour == int(hour),) * 2 + (self.row_hour == int(hour),) * 2
        return tuple(np.where(w, x, 0.0) for w, x in zip(at, d, strict=True))


def stage2_lp(system: System, plan: xr.Dataset, kinds: Sequence[str],
              formulation: str = "angle", like: Stage2LP | None = None,
              plan_columns: bool = False, lines: np.ndarray | None = None
              ) -> Stage2LP | None:
    """The :class:`Stage2LP` of ``plan`` for ``kinds``; None where shifting is not exact.

    Scenario data (loads, PV, wind) and the stage-1 plan enter the stage-2 LP only as
    bounds, each additively and each scenario entry at its own hour, so a scenario's LP is
    the ``forecast`` LP with shifted bounds. That is checked here: the LPs must have the
    same costs and matrix, and every shift must be finite and lie in one hour. The shifts
    do not depend on the plan: given ``like`` (another plan's) with the same structure,
    only the forecast LP is built and its shifts are kept. ``plan_columns``: see
    :func:`_build_stage2` (``columns`` then also holds the ``Plan-*`` columns).
    ``lines``: the ``lazy`` formulation's monitored line positions (default none).
    """
    lazy = formulation == "lazy"
    lines = np.zeros(0, dtype=int) if lines is None else np.asarray(lines, dtype=int)
    on = monitor(system, lines) if lazy else None

    def build(kind: str) -> PersistentLP:
        return PersistentLP(_build_stage2(system, plan, scenario_profiles(system.ds, kind),
                                          formulation, plan_columns, on),
                            name=f"interval/{kind}")

    base = build("forecast")
    f, structure = _lp_bounds(base.h), _structure(base.h)
    same = like is not None and _same(structure, tuple(like.lp[k] for k in (
        "cost", "start", "index", "value"))) and set(kinds) <= set(like.delta)
    col_h, row_h = (like.col_hour, like.row_hour) if same else _hours(base, system)
    delta = dict(like.delta) if same else {}
    for k in [] if same else kinds:
        lp_k = build(k)
        # where a bound is the same (infinite ones included) the shift is 0
        d = tuple(np.subtract(x, y, out=np.zeros_like(x), where=x != y)
                  for x, y in zip(_lp_bounds(lp_k.h), f, strict=True))
        why = ("the LPs differ in structure" if not _same(_structure(lp_k.h), structure)
               else "a scenario makes a bound infinite" if not all(
                   np.isfinite(x).all() for x in d)
               else "scenario data lie outside an hour" if any(np.any(x[w < 0] != 0) for x, w in
                   zip(d, (col_h, col_h, row_h, row_h), strict=True)) else "")
        if why:
            log.warning("interval: %s; building each scenario's LP", why)
            return None
        delta[k] = d
    q = base.h.getLp()
    lp = {"cost": structure[0], "start": structure[1], "index": structure[2],
          "value": structure[3], "format": q.a_matrix_.format_, "bounds": f,
          "offset": float(q.offset_)}
    m = base.model
    columns = {v: xr.DataArray(base.cols(v).reshape(m.variables[v].labels.shape),
                               coords=m.variables[v].labels.coords)
               for v in _OUTCOME_VARS + tuple(f"Plan-{p}" for p in PLAN_FIELDS)
               if v in m.variables}
    return Stage2LP(lp, delta, col_h, row_h, columns, lines if lazy else None,
                    InjectionFlows(m, base.positions, system) if lazy else None)


def stage2_batch(names: list[str], system_ds: xr.Dataset, plan: xr.Dataset,
                 lp: Stage2LP | None, formulation: str = "angle") -> list[xr.Dataset]:
    """Solve several extremes on one HiGHS model, changing only bounds; their outcomes.

    Passes the plan's forecast LP (:class:`Stage2LP`) to HiGHS once, cold, and re-solves
    it warm with each scenario's shift, so any process solves a batch in the same sequence
    and serial and dask runs give identical numbers. Without it every scenario is built
    on its own (:func:`stage2`).

    With the ``lazy`` formulation, the limits of lines a scenario overloads are added to
    the batch's model in place and it re-solves warm until none is overloaded
    (:class:`~flexnet.blocks.network_ts.LazyLineRows`); the added rows stay for the
    batch's later scenarios, their bounds following each scenario's demand. Every outcome
    carries the lines added in the batch (attr ``lines_added``).
    """
    import highspy

    from flexnet.grid.system import System

    if lp is None:
        return [stage2(n, system_ds, plan, formulation) for n in names]
    system = System(system_ds, validate=False)
    q, a = highspy.HighsLp(), lp.lp
    nc, nr = a["cost"].size, a["bounds"][2].size
    q.num_col_, q.num_row_, q.offset_ = nc, nr, a["offset"]
    q.col_cost_ = a["cost"]
    q.a_matrix_.format_ = a["format"]
    q.a_matrix_.num_col_, q.a_matrix_.num_row_ = nc, nr
    q.a_matrix_.start_, q.a_matrix_.index_, q.a_matrix_.value_ = a["start"], a["index"], a["value"]
    q.col_lower_, q.col_upper_, q.row_lower_, q.row_upper_ = a["bounds"]
    h = new_highs(name="interval")
    checked(h.passModel(q), "the stage-2 model", "interval")
    run = HighsLP(h, a["cost"], "interval")
    cols, rows = np.arange(nc, dtype=np.int32), np.arange(nr, dtype=np.int32)
    lazy, out = None, []
    for name in names:
        lb, ub, rl, ru = (x + y for x, y in zip(a["bounds"], lp.shift(name), strict=True))
        checked(h.changeColsBounds(nc, cols, lb, ub), "changeColsBounds", "interval")
        run.set_bounds(rows, rl, ru)
        if lp.flows is None:
            status = run.run()
        else:
            demand = ts_demand(system, scenario_profiles(system.ds, name)["load_p"])
            if lazy is None:
                lazy = LazyLineRows(run, system, inj=lp.flows, demand=demand, known=lp.lines)
            else:
                lazy.set_demand(demand)
            status = lazy.run(f"interval/{name}")
        if status != "optimal":
            raise InfeasibleError(f"stage-2 scenario {name!r} is not solvable", scheme="interval",
                                  status=status, hint="stage 2 sheds and spills at VOLL, so "
                                  "this points at fixed day-ahead decisions out of their limits")
        out.append(_outcome(lp.solution(run.values()), system,
                            float(h.getInfo().objective_function_value)))
    for r in out if lazy is not None else []:
        r.attrs["lines_added"] = lazy.lines
    return out


def _lp_bounds(h: Any) -> tuple[np.ndarray, ...]:
    lp = h.getLp()
    return tuple(np.asarray(v, dtype=float).copy() for v in (
        lp.col_lower_, lp.col_upper_, lp.row_lower_, lp.row_upper_))


def _structure(h: Any) -> tuple[np.ndarray, ...]:
    """Costs and matrix of a highspy model: what scenarios must not change."""
    lp = h.getLp()
    return tuple(np.asarray(v).copy() for v in (lp.col_cost_, lp.a_matrix_.start_,
                                                 lp.a_matrix_.index_, lp.a_matrix_.value_))


def _same(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> bool:
    return all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def _hours(lp: PersistentLP, system: System) -> tuple[np.ndarray, np.ndarray]:
    """Snapshot position of every column and row in solver order; −1 without a snapshot."""
    t = xr.DataArray(np.arange(system.n("snapshot")), coords={"snapshot": system.ds.snapshot})
    out = []
    for items, pos_of, n in ((lp.model.variables, lp.cols, lp.h.getNumCol()),
                             (lp.model.constraints, lp.rows, lp.h.getNumRow())):
        hour = np.full(int(n), -1, dtype=np.int64)
        for name, item in items.items():
            lab = item.labels
            if "snapshot" in lab.dims:
                pos = pos_of(name)
                ok = pos >= 0
                hour[pos[ok]] = t.broadcast_like(lab).transpose(*lab.dims).values.ravel()[ok]
        out.append(hour)
    return out[0], out[1]


def _build_stage2(system: System, plan: xr.Dataset, prof: dict[str, xr.DataArray],
                  formulation: str, plan_columns: bool = False,
                  monitored: xr.DataArray | None = None) -> linopy.Model:
    """The stage-2 LP of one scenario's profiles with day-ahead decisions fixed.

    ``plan_columns``: the day-ahead decisions are columns ``Plan-*`` (:data:`PLAN_LINKS`)
    fixed at the plan's values, instead of constants, so the one-shot LP can link them to
    its stage-1 columns; the LP is the same. ``monitored``: the ``lazy`` formulation's
    line rows (:func:`flexnet.blocks.add_ts_network`).
    """
    ds = system.ds
    m = new_model()
    costs: list = []
    voll = float(ds.attrs["voll"])

    def decided(var: str, dims: tuple[str, ...]) -> Any:
        value = plan[PLAN_FIELDS[var]]
        if not plan_columns:
            return value
        return m.add_variables(lower=value, upper=value, coords=coords(system, *dims),
                               name=f"Plan-{var}")

    if system.has_ds:
        if system.n("der"):
            is_dg = ds.der_kind == "dg"
            der = decided("Der-p", ("snapshot", "der"))
            if plan_columns:  # DG follows its plan, through a row
                p = m.add_variables(lower=0, upper=xr.where(is_dg, np.inf, prof["der_p"]),
                                    coords=coords(system, "snapshot", "der"), name="Der-p")
                m.add_constraints(p - der == 0, name="Der-p-plan", mask=is_dg)
            else:
                p = m.add_variables(lower=xr.where(is_dg, der, 0.0),
                                    upper=xr.where(is_dg, der, prof["der_p"]),
                                    coords=coords(system, "snapshot", "der"), name="Der-p")
            costs.append((-PV_CURTAIL_PENALTY * xr.where(is_dg, 0.0, 1.0) * p).sum())
        costs.append(b.add_storage(m, system, reserve=False))
        costs.append(b.add_ds_shedding(m, system, demand=prof["node_p_load"]))
        costs.append(b.add_ds_spill(m, system))  # surplus nothing can absorb
        # buildings and fleets keep their schedules (constants, or Plan-* columns); DG
        # follows its plan through Der-p above
        load = sum((aggregate(decided(var, ("snapshot", dim)), ds[f"{dim}_node"], "node",
                              ds.indexes["node"])
                    for var, dim in (("Building-p", "building"), ("Fleet-p", "fleet"))
                    if PLAN_FIELDS[var] in plan), 0) + prof["node_p_load"]
        b.add_distribution(m, system, load=load)
        c = coords(system, "snapshot", "dso")
        pcc = m.variables["Pcc-p"]
        short = m.add_variables(lower=0, coords=c, name="Pcc-uncovered-up")
        spill = m.add_variables(lower=0, coords=c, name="Pcc-uncovered-down")
        zero = xr.zeros_like(plan.pcc_p)
        p0 = decided("Pcc-p", ("snapshot", "dso"))
        up = decided("Pcc-r-up", ("snapshot", "dso")) if "pcc_flex_up" in plan else zero
        down = decided("Pcc-r-down", ("snapshot", "dso")) if "pcc_flex_down" in plan else zero
        m.add_constraints(pcc - short - p0 - down <= 0, name="Pcc-stage2-upper")
        m.add_constraints(pcc + spill - p0 + up >= 0, name="Pcc-stage2-lower")
        costs.append(voll * (short.sum() + spill.sum()))
    if system.has_ts:
        cg = coords(system, "snapshot", "gen")
        if plan_columns:
            p0 = decided("Gen-p", ("snapshot", "gen"))
            g = m.add_variables(coords=cg, name="Gen-p")
            m.add_constraints(g - p0 + decided("Gen-r-down", ("snapshot", "gen")) >= 0,
                              name="Gen-stage2-lower")
            m.add_constraints(g - p0 - decided("Gen-r-up", ("snapshot", "gen")) <= 0,
                              name="Gen-stage2-upper")
        else:
            g = m.add_variables(lower=plan.gen_p - plan.gen_r_down,
                                upper=plan.gen_p + plan.gen_r_up, coords=cg, name="Gen-p")
        costs.append((ds.gen_cost * g).sum())
        # surplus the procured down-reserve and curtailment cannot absorb: uncovered, at VOLL
        costs.append(b.add_ts_spill(m, system))
        b.add_wind(m, system, available=prof.get("wind_p"))
        costs.append(b.add_ts_shedding(m, system, demand=prof["load_p"]))
        b.add_ts_network(m, system, formulation, load=prof["load_p"], monitored=monitored)
    objective(m, costs)
    return m


#: the day-ahead decisions stage 2 keeps (``Plan-<var>`` columns), their result fields,
#: and the stage-1 columns each equals (variable, coefficient)
PLAN_FIELDS = {"Gen-p": "gen_p", "Gen-r-up": "gen_r_up", "Gen-r-down": "gen_r_down",
               "Pcc-p": "pcc_p", "Pcc-r-up": "pcc_flex_up", "Pcc-r-down": "pcc_flex_down",
               "Der-p": "der_p", "Building-p": "building_p", "Fleet-p": "fleet_p"}
PLAN_LINKS = {v: [(v, 1.0)] for v in PLAN_FIELDS} | {
    "Fleet-p": [("Fleet-p-charge", 1.0), ("Fleet-p-discharge", -1.0)]}


#: the variables :func:`_outcome` reads
_OUTCOME_VARS = ("Node-shed", "Node-spill", "Pcc-uncovered-up", "Pcc-uncovered-down", "Node-v",
                 "Storage-p-charge", "Storage-p-discharge", "Storage-soc", "Load-shed",
                 "Bus-spill")


def _outcome(sol: dict[str, xr.DataArray], system: System, objective: float) -> xr.Dataset:
    """Uncovered MW, voltages, BESS and TS shedding from a stage-2 solution (by variable)."""
    ds = system.ds
    out = xr.Dataset(coords={"snapshot": ds.snapshot.values}, attrs={"objective": objective})
    if system.has_ds:
        shed = sol["Node-shed"] + sol["Node-spill"]
        shed_dso = shed.groupby(ds.node_dso.rename("dso")).sum().reindex(dso=ds.dso.values)
        pcc_gap = (sol["Pcc-uncovered-up"]
                   + sol["Pcc-uncovered-down"])
        out["uncovered"] = (shed_dso + pcc_gap).transpose("snapshot", "dso")
        shed_only = sol["Node-shed"].groupby(
            ds.node_dso.rename("dso")).sum().reindex(dso=ds.dso.values)
        out["uncovered_up"] = (shed_only + sol["Pcc-uncovered-up"]).transpose(
            "snapshot", "dso")
        v = np.sqrt(sol["Node-v"].clip(min=0))
        out["v_min"] = v.groupby(ds.node_dso.rename("dso")).min().reindex(dso=ds.dso.values)
        if system.n("storage"):
            out["storage_p"] = (sol["Storage-p-charge"]
                                - sol["Storage-p-discharge"])
            out["storage_soc"] = sol["Storage-soc"]
    if system.has_ts:
        out["ts_shed"] = (sol["Load-shed"].sum("load")
                          + sol["Bus-spill"].sum("bus"))
    return out


def _headroom_hook(system: System, need_up: xr.DataArray, need_down: xr.DataArray):
    """Stage-1 constraints reserving BESS power and one hour of energy per DSO and hour."""

    def hook(m: linopy.Model) -> None:
        _add_headroom(m, system, need_up, need_down, need_up > 1e-9, need_down > 1e-9)

    return hook


#: the headroom rows and the need (up or down) in their right-hand side
_HEADROOM = {"Storage-headroom-up-power": "up", "Storage-headroom-up-energy": "up",
             "Storage-headroom-down-power": "down", "Storage-headroom-down-energy": "down"}


def _add_headroom(m: linopy.Model, system: System, need_up: xr.DataArray,
                  need_down: xr.DataArray, up: xr.DataArray, down: xr.DataArray) -> None:
    """Rows ``… ≥ need + offset`` (see :func:`_headroom_hook`) where ``up``/``down`` hold.

    Every row's right-hand side is the need plus a constant, so with need = 0 each row
    only restates a BESS limit (the charge–discharge balance within the rating, the state
    of charge within its band) and cannot cut anything off.
    """
    ds = system.ds
    if not system.n("storage"):
        return
    owner, dsos = asset_dso(system, "storage_node"), ds.indexes["dso"]
    ch, dis = m.variables["Storage-p-charge"], m.variables["Storage-p-discharge"]
    soc = m.variables["Storage-soc"]
    e = ds.storage_e_max
    pmax = aggregate_const(ds.storage_p_max, owner, dsos)
    lo = aggregate_const(ds.storage_eta_d * ds.storage_soc_min * e, owner, dsos)
    hi = aggregate_const(ds.storage_soc_max * e / ds.storage_eta_c, owner, dsos)
    if bool(up.any()):
        m.add_constraints(aggregate(ch - dis, owner, "dso", dsos) >= need_up - pmax,
                          name="Storage-headroom-up-power", mask=up)
        m.add_constraints(aggregate(ds.storage_eta_d * soc, owner, "dso", dsos)
                          >= need_up + lo, name="Storage-headroom-up-energy", mask=up)
    if bool(down.any()):
        m.add_constraints(aggregate(dis - ch, owner, "dso", dsos) >= need_down - pmax,
                          name="Storage-headroom-down-power", mask=down)
        m.add_constraints(aggregate(-1.0 * soc / ds.storage_eta_c, owner, "dso", dsos)
                          >= need_down - hi, name="Storage-headroom-down-energy", mask=down)


class _CentralizedStage1:
    """Stage 1 under ``centralized``, built once per run and re-solved warm.

    The headroom rows exist from the start for every DSO with BESS and every hour, at
    need = 0 (where they restate BESS limits); a repair round only raises their
    right-hand sides and re-solves from the last basis instead of building stage 1 again.
    With the ``lazy`` formulation the line limits are added in place as they are
    violated (:class:`~flexnet.blocks.network_ts.LazyLineRows`) and kept for later rounds.
    """

    def __init__(self, system: System, options: dict[str, Any], zero: xr.DataArray,
                 cap: xr.DataArray) -> None:
        """``zero`` is a (snapshot, dso) need of 0 and ``cap`` each DSO's BESS rating, as
        :func:`solve_interval` makes them."""
        from flexnet.coordination.centralized import build_centralized

        self.system = system
        self.formulation = options.get("formulation", "angle")
        opts = {k: v for k, v in options.items() if k != "formulation"}
        lazy = self.formulation == "lazy"
        m = build_centralized(system, self.formulation,
                              monitor(system, []) if lazy else None)
        # a row for every DSO with BESS and every hour, at need = 0 (no-op without storage)
        has = (cap > 0).broadcast_like(zero)
        _add_headroom(m, system, zero, zero, has, has)
        self.lp = PersistentLP(m, opts, name="centralized")
        self.lazy = LazyLineRows(self.lp, system) if lazy else None
        lower = np.asarray(self.lp.h.getLp().row_lower_, dtype=float)
        self.rows = {}
        for name in _HEADROOM:
            if name in m.constraints:
                lab = m.constraints[name].labels
                pos = self.lp.rows(name)
                ok = lab.values.ravel() >= 0
                self.rows[name] = (lab, pos[ok], lower[pos[ok]], ok)

    def solve(self, need_up: xr.DataArray, need_down: xr.DataArray) -> Result:
        """Re-solve with ``need`` MW of BESS headroom per DSO and hour; the stage-1 result."""
        h = self.lp.h
        for name, (lab, pos, base, ok) in self.rows.items():
            need = need_up if _HEADROOM[name] == "up" else need_down
            add = need.broadcast_like(lab).transpose(*lab.dims).values.ravel()[ok]
            checked(h.changeRowsBounds(pos.size, pos.astype(np.int32), base + add,
                                       np.full(pos.size, np.inf)), "changeRowsBounds",
                    "interval")
        reserved = bool((need_up > 0).any() or (need_down > 0).any())
        status = self.lazy.run("interval stage 1") if self.lazy else self.lp.run()
        return self.result(status, " with the BESS headroom reserved for stage 2"
                           if reserved else "")

    def result(self, status: str, why: str = "") -> Result:
        """The stage-1 result of the last run of ``lp.h`` (raise unless optimal)."""
        from flexnet.results import extract, finalize
        from flexnet.solver import diagnose_infeasibility

        if "infeasible" in status:
            raise InfeasibleError("stage 1 is infeasible" + why,
                scheme="interval", status=status, hint=diagnose_infeasibility(self.system)
                or "solve the case with scheme='centralized' to locate the cause")
        if status != "optimal":
            raise SolverError("stage 1 stopped without an optimal solution", scheme="interval",
                              status=status, hint="run with verbose=True to see HiGHS's log")
        self.lp.assign()
        out, extra = extract(self.lp.model, self.system), {"formulation": self.formulation}
        if self.lazy is not None:
            out["bus_lmp"] = self.lazy.lmp()
            extra.update(lazy_rounds=self.lazy.rounds, monitored_lines=self.lazy.lines.size)
        return finalize(out, self.system, scheme="centralized", status=status,
                        objective=self.lp.base_objective(), extra=extra)


#: weight of the stage-2 operating costs (generation, PV curtailment) in the one-shot
#: LP's objective: only a tie-break, since the extremes are bounds, not weighted outcomes
OPERATING_WEIGHT = 1e-6
#: stage-2 columns whose cost is the price of not covering an extreme (VOLL)
_PENALTY_VARS = ("Node-shed", "Node-spill", "Pcc-uncovered-up", "Pcc-uncovered-down",
                 "Load-shed", "Bus-spill")


def all_extremes(system: System) -> list[str]:
    """The all-day extremes and every per-hour extreme: what the one-shot LP secures."""
    n = system.n("snapshot")
    return ["high", "low"] + [f"{k}@{h}" for h in range(n) for k in ("high", "low")]


def _matrix(a: dict[str, Any]) -> Any:
    """A :class:`Stage2LP`'s matrix as a scipy CSR matrix (rows × columns)."""
    import highspy
    import scipy.sparse as sp

    shape = (a["bounds"][2].size, a["cost"].size)
    data = (a["value"], a["index"], a["start"])
    if a["format"] == highspy.MatrixFormat.kColwise:
        return sp.csc_matrix(data, shape=shape).tocsr()
    return sp.csr_matrix(data, shape=shape)


class _OneShot:
    """Stage 1 and the recourse of chosen extremes as one LP, grown scenario by scenario.

    Appended to stage 1's HiGHS model: one copy of the stage-2 LP per scenario (its bounds
    shifted as in :class:`Stage2LP`), whose ``Plan-*`` columns are freed and tied to the
    stage-1 columns they stand for (:data:`PLAN_LINKS`). Objective: stage-1 cost + every
    scenario's uncovered energy at VOLL (+ the operating costs × :data:`OPERATING_WEIGHT`).
    Scenarios added later extend the model in place; HiGHS re-solves from its last basis.
    """

    def __init__(self, system: System, stage1: _CentralizedStage1, plan: Result,
                 formulation: str) -> None:
        self.system, self.stage1 = system, stage1
        s2 = stage2_lp(system, plan.dataset, ["high", "low"], formulation, plan_columns=True)
        if s2 is None:
            raise DataError("interval one-shot: the scenarios do not differ from the "
                            "forecast by bounds only; use method='repair'")
        self.s2, a, lp1 = s2, s2.lp, stage1.lp
        self.n1 = int(lp1.h.getNumCol())
        nc = a["cost"].size
        penalty = np.zeros(nc, dtype=bool)
        for v in _PENALTY_VARS:
            if v in s2.columns:
                pos = s2.columns[v].values.ravel()
                penalty[pos[pos >= 0]] = True
        self.cost = np.where(penalty, a["cost"], OPERATING_WEIGHT * a["cost"])
        self.free = np.zeros(nc, dtype=bool)
        # one scenario's link rows: Plan column − Σ coef · stage-1 column = 0; the Plan
        # columns counted from the scenario's first column, stage 1's as they are (< n1)
        rows, cols, vals, n = [], [], [], 0
        for v, pos in s2.columns.items():
            if not v.startswith("Plan-"):
                continue
            target = pos.values.ravel()
            ok = target >= 0
            self.free[target[ok]] = True
            at = n + np.flatnonzero(ok)
            rows.append(at)
            cols.append(target[ok] - self.n1)  # < 0: the scenario's own columns
            vals.append(np.ones(at.size))
            for v1, coef in PLAN_LINKS[v[5:]]:
                lab = lp1.model.variables[v1].labels
                col = xr.DataArray(lp1.cols(v1).reshape(lab.shape), coords=lab.coords)
                rows.append(at)
                cols.append(col.transpose(*pos.dims).values.ravel()[ok])
                vals.append(np.full(at.size, -coef))
            n += target.size
        self.links = (np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), n)
        self.A2 = _matrix(a).tocoo()
        self.names: list[str] = []

    def add(self, names: list[str]) -> None:
        """Append these scenarios' columns and rows."""
        import scipy.sparse as sp

        h, a = self.stage1.lp.h, self.s2.lp
        nc = a["cost"].size
        first = int(h.getNumCol())
        lower, upper, rlo, rhi, r, c, v = [], [], [], [], [], [], []
        n_rows = 0
        lr, lc, lv, nl = self.links
        for k, name in enumerate(names):
            lb, ub, rl, ru = (x + y for x, y in zip(a["bounds"], self.s2.shift(name),
                                                   strict=True))
            lower.append(np.where(self.free, -np.inf, lb))
            upper.append(np.where(self.free, np.inf, ub))
            off = first + k * nc
            r += [n_rows + self.A2.row, n_rows + rl.size + lr]
            c += [off + self.A2.col, np.where(lc < 0, lc + self.n1 + off, lc)]
            v += [self.A2.data, lv]
            rlo += [rl, np.zeros(nl)]
            rhi += [ru, np.zeros(nl)]
            n_rows += rl.size + nl
        ncol = len(names) * nc
        checked(h.addCols(ncol, np.tile(self.cost, len(names)), np.concatenate(lower),
                          np.concatenate(upper), 0, np.zeros(ncol, dtype=np.int32),
                          np.zeros(0, dtype=np.int32), np.zeros(0)), "addCols", "interval")
        rows = sp.csr_matrix((np.concatenate(v), (np.concatenate(r), np.concatenate(c))),
                             shape=(n_rows, first + ncol))
        checked(h.addRows(n_rows, np.concatenate(rlo), np.concatenate(rhi), rows.nnz,
                          rows.indptr.astype(np.int32), rows.indices.astype(np.int32),
                          rows.data), "addRows", "interval")
        self.names += names
        log.info("interval one-shot: %d scenarios, %d columns, %d rows, %d nonzeros",
                 len(self.names), h.getNumCol(), h.getNumRow(), h.getNumNz())

    def solve(self) -> tuple[Result, dict[str, xr.Dataset]]:
        """Solve; the secured stage-1 result and each scenario's outcome."""
        lp1, a = self.stage1.lp, self.s2.lp
        secured = self.stage1.result(lp1.run(), " with the extremes' recourse (one-shot)")
        x = np.asarray(lp1.h.getSolution().col_value, dtype=float)
        nc, out = a["cost"].size, {}
        for k, name in enumerate(self.names):
            xs = x[self.n1 + k * nc: self.n1 + (k + 1) * nc]
            out[name] = _outcome(self.s2.solution(xs, plan=False), self.system,
                                 float(a["cost"] @ xs) + a["offset"])
        return secured, out


def aggregate_const(values: xr.DataArray, owner: xr.DataArray, index) -> xr.DataArray:
    """Sum a constant per asset into its DSO (0 where a DSO has none)."""
    own = owner.rename("dso").drop_vars([c for c in owner.coords if c not in owner.dims])
    return values.groupby(own).sum().reindex(dso=index, fill_value=0.0)


def solve_interval(
    system: System,
    *,
    scheme: str = "centralized",
    max_rounds: int = 3,
    parallel: bool | str = "auto",
    workers: int | None = None,
    scheduler_address: str | None = None,
    tol: float = 1e-6,
    method: str = "repair",
    scenarios: str = "lazy",
    stage2_cyclic: bool = True,
    **options: Any,
) -> Result:
    """Run the interval two-stage algorithm; return the stage-1 result with scenarios.

    ``method="repair"`` (default): plan, check the extremes, reserve BESS headroom where
    one is not covered, plan again (module docstring). ``method="oneshot"``: stage 1 and
    the recourse of every extreme (``high``, ``low`` and each ``high@h``/``low@h``) as one
    LP (:class:`_OneShot`), so the plan covers every extreme it can by construction, with
    all its day-ahead decisions (reserves, PCC flexibility, BESS) free to do so; the
    secured plan is then checked scenario by scenario with the repair path's stage 2
    (serially or on dask), and attrs ``security_premium`` and ``unsecured_cost`` price it
    against the plain plan (docs/nested.md, "Interval"). ``scenarios="lazy"`` (default)
    puts an extreme in the LP only once the plan leaves it uncovered (the same optimum;
    :func:`_secure_oneshot`), ``"all"`` all of them from the start.

    ``stage2_cyclic``: in stage 2, cyclic BESSs end each extreme day at the state they
    start it in, as in stage 1 (default: an extreme day may not borrow from the next).
    ``False``: in stage 2 every BESS starts at its ``storage_soc_init`` and may end the
    day anywhere in its band.

    Stage-2 scenarios run serially, or on dask.distributed (:func:`flexnet.parallel.use_dask`:
    ``parallel=True``, or ``workers`` or ``scheduler_address`` given): a LocalCluster
    with ``workers`` processes (default: one per core), or the cluster at
    ``scheduler_address``. Both paths give identical numbers.

    The result carries a ``scenario`` dim: ``scenario_uncovered`` (scenario, snapshot,
    dso) in MW, ``scenario_v_min``, ``scenario_storage_p``/``_soc``, ``scenario_ts_shed``
    and ``scenario_covered``; attrs ``interval_rounds``, ``uncovered_mwh`` and
    ``uncovered_report`` (hour, DSO, MW of whatever could not be covered).

    ``formulation`` (in ``options``): the TS network of both stages, as for
    :func:`flexnet.solve`; ``auto`` is ``lazy`` on systems with more than 1,500 lines
    (``angle`` for ``method="oneshot"``, which refuses ``lazy``). With ``lazy``, stage 1
    and every stage-2 batch add violated line rows in place (docs/transmission.md); attrs
    ``lazy_rounds`` and ``monitored_lines`` (stage 1), ``stage2_monitored_lines``.
    """
    if scheme not in ("centralized", "nested"):
        raise DataError(f"interval stage 1 supports the 'centralized' and 'nested' schemes, "
                        f"not {scheme!r}")
    if not system.has_ds:
        raise DataError(f"interval algorithm needs distribution systems with BESS; case "
                        f"{system.name!r} has none")
    from flexnet.coordination.centralized import resolve_formulation

    # the one-shot LP's scenario copies have no lazy line rows
    formulation = resolve_formulation(options.get("formulation", "auto"), system,
                                      "interval method='oneshot'", lazy=method != "oneshot")
    options = {**options, "formulation": formulation}
    dsos = system.ds.dso.values
    zeros = xr.zeros_like(system.ds.node_p_load.isel(node=0, drop=True)) * xr.DataArray(
        np.zeros(dsos.size), coords={"dso": dsos})
    need_up, need_down = zeros.copy(), zeros.copy()
    cap = aggregate_const(system.ds.storage_p_max, asset_dso(system, "storage_node"),
                          system.ds.indexes["dso"]) if system.n("storage") else 0.0 * zeros
    if method not in ("repair", "oneshot"):
        raise ValueError(f"interval: method must be 'repair' or 'oneshot', not {method!r}")
    if scenarios not in ("lazy", "all"):
        raise ValueError(f"interval: scenarios must be 'lazy' or 'all', not {scenarios!r}")
    second = system  # the system stage 2 sees
    if not stage2_cyclic and system.n("storage"):
        ds = system.ds.copy()
        ds["storage_cyclic"] = xr.zeros_like(ds.storage_cyclic, dtype=bool)
        second = type(system)(ds, validate=False)
    if method == "oneshot":
        if scheme != "centralized":
            raise DataError(f"interval: method='oneshot' plans with the centralized scheme, "
                            f"not {scheme!r}")
        with executor(parallel, workers, scheduler_address) as client:
            return _secure_oneshot(system, second, options, formulation, cap, zeros, tol,
                                   client, scenarios)
    with executor(parallel, workers, scheduler_address) as client:
        plan, results, rounds, stop = _rounds(system, second, scheme, options, formulation,
                                              cap, need_up, need_down, max_rounds, tol, client)
    return _assemble(plan, results, rounds, tol, stop)


def _secure_oneshot(system: System, second: System, options: dict[str, Any], formulation: str,
                    cap: xr.DataArray, zeros: xr.DataArray, tol: float, client: Any,
                    scenarios: str) -> Result:
    """The one-shot plan (:class:`_OneShot`) and its check by the repair path's stage 2.

    ``scenarios="all"`` puts every extreme in the LP. ``"lazy"`` starts from the all-day
    extremes and adds each extreme the plan leaves uncovered when solved alone, until none
    outside the LP is: the optimum is then the all-scenario LP's, because the LP's
    objective is a lower bound on it and its plan leaves the omitted extremes covered.
    """
    import time

    t0 = time.perf_counter()
    stage1 = _CentralizedStage1(system, options, zeros, cap)
    plain = stage1.solve(zeros, zeros)
    names = all_extremes(system)
    shot = _OneShot(second, stage1, plain, formulation)
    shot.add(names if scenarios == "all" else ["high", "low"])
    rounds = 0

    def energy(r: xr.Dataset) -> float:
        return float(r["uncovered"].sum()) + (float(r["ts_shed"].sum()) if "ts_shed" in r
                                              else 0.0)

    lp = None
    while True:
        rounds += 1
        secured, inside = shot.solve()
        # every extreme solved alone with the plan (the repair path's stage 2)
        got, lp, _ = _stage2(second, secured.dataset, names, formulation, lp, None, client,
                             "one-shot check")
        alone = dict(zip(names, got, strict=True))
        missing = [n for n in names if n not in inside and energy(alone[n]) > tol]
        if not missing:
            break
        shot.add(missing)
    # the independent check: each extreme in the LP, solved alone, leaves as much uncovered
    gap = max(abs(energy(alone[n]) - energy(inside[n])) for n in inside)
    res = _assemble(secured, {n: inside.get(n, alone[n]) for n in names}, rounds, tol, "")
    cost0 = float(plain.dataset.attrs["objective"])
    cost1 = float(res.dataset.attrs["objective"])
    h = stage1.lp.h
    passed = gap <= tol * len(names)
    res.dataset.attrs.update(interval_method="oneshot", unsecured_cost=cost0,
                             security_premium=cost1 - cost0, oneshot_scenarios=len(inside),
                             oneshot_check_gap_mwh=gap, oneshot_check_passed=int(passed),
                             oneshot_columns=int(h.getNumCol()), oneshot_rows=int(h.getNumRow()),
                             oneshot_seconds=time.perf_counter() - t0)
    if not passed:
        log.warning("interval one-shot: solved alone, an extreme leaves %.3g MWh more or less "
                    "uncovered than in the one-shot LP", gap)
    return res


def _rounds(system, second, scheme, options, formulation, cap, need_up, need_down, max_rounds,
            tol, client):
    """Stage 1, stage 2 (on ``second``) and repair rounds until covered or stopped."""
    from flexnet.coordination import SCHEMES

    rounds, hook, stop = 0, None, ""
    plan = results = lp = lines = None
    # centralized stage 1 is built once and re-solved warm; others rebuild with a hook
    stage1 = _CentralizedStage1(system, options, need_up, cap) if scheme == "centralized" else None
    while True:
        rounds += 1
        try:
            new_plan = (stage1.solve(need_up, need_down) if stage1 is not None
                        else SCHEMES[scheme](system, hook=hook, **options))
        except InfeasibleError:
            if plan is None:
                raise
            stop = (f"round {rounds}: stage 1 became infeasible with the extra BESS headroom; "
                    "the previous plan is kept")
            rounds -= 1
            break
        plan = new_plan
        names = ["high", "low"]
        first, lp, lines = _stage2(second, plan.dataset, names, formulation, lp, lines, client,
                                   "interval extremes")
        hours = sorted({int(h) for r in first for h in
                        np.flatnonzero((r["uncovered"].sum("dso") > tol).values)})
        extra = [f"{k}@{h}" for h in hours for k in ("high", "low")]
        more, lp, lines = (_stage2(second, plan.dataset, extra, formulation, lp, lines, client,
                                   "per-hour extremes") if extra else ([], lp, lines))
        results = dict(zip(names + extra, first + more, strict=True))
        unc = xr.concat([r["uncovered"] for r in results.values()], "scenario")
        if float(unc.max()) <= tol:
            break
        if rounds > max_rounds:
            stop = f"stopped after {max_rounds} repair rounds"
            break
        up = xr.concat([r["uncovered_up"] for r in results.values()], "scenario").max("scenario")
        # never ask the BESS fleet of a DSO for more power than it has
        new_up = np.minimum(need_up + up, cap)
        new_down = np.minimum(need_down + (unc.max("scenario") - up).clip(min=0), cap)
        if bool((new_up <= need_up + tol).all() and (new_down <= need_down + tol).all()):
            stop = "BESS headroom exhausted: the remaining deviations exceed the BESS ratings"
            break
        need_up, need_down = new_up, new_down
        log.info("interval: round %d uncovered %.3f MWh; reserving BESS headroom",
                 rounds, float(unc.max("scenario").sum()))
        hook = _headroom_hook(system, need_up, need_down)
    if lines is not None:
        plan.dataset.attrs["stage2_monitored_lines"] = int(lines.size)
    return plan, results, rounds, stop


def _stage2(second: System, plan: xr.Dataset, names: list[str], formulation: str,
            lp: Stage2LP | None, lines: np.ndarray | None, client: Any, desc: str
            ) -> tuple[list[xr.Dataset], Stage2LP | None, np.ndarray | None]:
    """Stage-2 outcomes of ``names`` (in that order) on the plan's :class:`Stage2LP`
    (reusing the shifts of ``lp``, another plan's, where they fit), in :func:`_batches`.

    With the ``lazy`` formulation the LP monitors ``lines`` (positions) and the lines
    binding in the plan; the batches add any other line a scenario overloads
    (:func:`stage2_batch`), and those are monitored from the start next time. Returns
    the outcomes, the LP and the monitored lines (None unless lazy).
    """
    if formulation == "lazy":
        binding = (plan.line_loading >= 1 - LAZY_TOL).any("snapshot").values
        lines = np.union1d(np.zeros(0, int) if lines is None else lines,
                           np.flatnonzero(binding))
    lp = stage2_lp(second, plan, ["high", "low"], formulation, like=lp, lines=lines)
    shared = {"system_ds": second.ds, "plan": plan, "formulation": formulation, "lp": lp}
    out = _batches(names, shared, desc, client)
    if formulation == "lazy":
        added = [r.attrs.pop("lines_added", np.zeros(0, int)) for r in out]
        lines = np.union1d(lines, np.concatenate(added)).astype(int)
    return out, lp, lines


def _batches(names: list[str], shared: dict, desc: str, client: Any) -> list[xr.Dataset]:
    """Scenarios in batches through :func:`fan_out`; results in the order of ``names``.

    Batches hold one kind (``high@*`` or ``low@*``) and at most :data:`BATCH` scenarios,
    whatever the number of workers, so serial and dask runs re-solve the same models in
    the same order and give identical numbers even where an LP optimum is not unique.
    """
    chunks: list[list[str]] = []
    for kind in dict.fromkeys(n.partition("@")[0] for n in names):
        same = [n for n in names if n.partition("@")[0] == kind]
        chunks += [same[i:i + BATCH] for i in range(0, len(same), BATCH)]
    out = dict(zip([n for c in chunks for n in c],
                   [r for batch in fan_out(stage2_batch, chunks, shared=shared, desc=desc,
                                                    client=client)
                    for r in batch], strict=True))
    return [out[n] for n in names]


def _assemble(plan: Result, results: dict[str, xr.Dataset], rounds: int, tol: float,
              stop: str) -> Result:
    names = list(results)
    stack = xr.concat([results[n] for n in names], dim="scenario").assign_coords(
        scenario=np.array(names, dtype=object))
    ds = plan.dataset
    units = {"uncovered": ("MW", "demand shed or PCC deviation not covered in the scenario"),
             "v_min": ("p.u.", "lowest feeder voltage in the scenario"),
             "storage_p": ("MW", "BESS net charging in the scenario"),
             "storage_soc": ("MWh", "BESS state of charge in the scenario"),
             "ts_shed": ("MW", "TS load shed plus surplus spilled in the scenario")}
    for var, (u, meaning) in units.items():
        if var in stack:
            ds[f"scenario_{var}"] = stack[var].assign_attrs(units=u, long_name=meaning)
    covered = (stack["uncovered"].max(["snapshot", "dso"]) <= tol)
    if "ts_shed" in stack:
        covered = covered & (stack["ts_shed"].max("snapshot") <= tol)
    ds["scenario_covered"] = covered.astype("int8").assign_attrs(
        units="1", long_name="1 if every deviation was absorbed")
    worst = stack["uncovered"].max("scenario")
    ds["uncovered_worst"] = worst.assign_attrs(
        units="MW", long_name="largest uncovered DS deviation over the scenarios")
    entries = [(f"hour {ds.snapshot.values[i]} {worst.dso.values[j]}", float(worst.values[i, j]))
               for i, j in np.argwhere(worst.values > tol)]
    ts_mwh = 0.0
    if "ts_shed" in stack:
        ts_worst = stack["ts_shed"].max("scenario")
        ds["ts_uncovered_worst"] = ts_worst.assign_attrs(
            units="MW", long_name="largest TS shedding or spill over the scenarios")
        ts_mwh = float(ts_worst.sum())
        entries += [(f"hour {ds.snapshot.values[i]} TS", float(ts_worst.values[i]))
                    for i in np.flatnonzero(ts_worst.values > tol)]
    entries.sort(key=lambda e: -e[1])
    top = 10
    report = "; ".join(f"{where}: {mw:.3f} MW" for where, mw in entries[:top])
    if len(entries) > top:
        report += (f"; and {len(entries) - top} more (variables uncovered_worst, "
                   "ts_uncovered_worst)")
    ds.attrs.update(interval_rounds=rounds, uncovered_mwh=float(worst.sum()) + ts_mwh,
                    uncovered_ds_mwh=float(worst.sum()), uncovered_ts_mwh=ts_mwh,
                    uncovered_entries=len(entries),
                    uncovered_report=report or "all extremes covered", repair_stop=stop,
                    scheme=f"{ds.attrs['scheme']}+interval")
    return plan
