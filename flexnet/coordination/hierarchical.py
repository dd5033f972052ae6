"""Hierarchical scheme: ADMM on the PCC exchange between the TSO and the DSOs (reconstructed).

Cai et al. (Energy 2025) coordinate a TSO and its DSOs by exchanging product demands and
prices both ways across the PCC. We reconstruct it as consensus ADMM on the exchange
x = (P_pcc, R↑_pcc, R↓_pcc) per DSO and hour:

- the **TSO** clears energy and up/down flexibility (DC network, generators, wind, the
  flexibility requirement) with its own copy x_T of every DSO's exchange;
- each **DSO** clears its local market (LinDistFlow, buildings, EV fleets, BESS, DER and
  their flexibility) with its copy x_D;
- each agent minimises f_i(x_i) + λ_iᵀx_i + ρ·φ(x_i − z), then z = (x_T + x_D)/2 and
  λ_i ← λ_i + ρ (x_i − z). At convergence λ_D is the PCC price the DSO pays (the LMP for
  energy, minus the flexibility price for reserves).

The proximal term φ(d) ≈ ½d² is the piecewise-linear interpolation of ½d² between fixed
breakpoints, so every subproblem stays an LP (HiGHS's QP solver took minutes on the TSO
subproblem; DESIGN §5): x − Σ ``Admm-up`` + Σ ``Admm-down`` = z is one row per exchanged
entry whose bounds change each iteration, and the bounded segment columns carry the costs
ρ·slope_k. Subproblems are built once — on dask workers when parallel — and only costs
and row bounds change between iterations.

The iteration itself (residual-balanced ρ, Boyd et al.'s stopping rule) is
:func:`flexnet.coordination.admm.admm`. Hitting ``max_iter`` returns status
``max_iterations``, with a warning; it is never reported as converged.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import TYPE_CHECKING, Any

import linopy
import numpy as np
import pandas as pd
import xarray as xr

from flexnet import blocks as b
from flexnet.blocks.common import coords
from flexnet.blocks.network_ts import LazyLineRows
from flexnet.coordination.admm import AdmmState, Tolerances, admm
from flexnet.coordination.centralized import add_ds_side, add_ts_side, objective
from flexnet.errors import DataError
from flexnet.parallel import AgentPool, executor
from flexnet.results import extract, finalize
from flexnet.solver import WARM_OPTIONS, ComponentLP, PersistentLP, SnapshotSplitLP, new_model

if TYPE_CHECKING:
    from flexnet.grid.system import System
    from flexnet.results import Result

__all__ = ["EXCHANGE", "Subproblem", "solve_hierarchical", "solve_hierarchical_vpp"]

log = logging.getLogger("flexnet")

#: most feeders in one DSO subproblem by default (see ``_groups``)
GROUP_FEEDERS = 12
#: feeders per independent LP inside a DSO group's subproblem (see ``Subproblem``)
BLOCK_FEEDERS = 1
#: the exchanged quantities (snapshot, dso), in this order on the ``exchange`` dim
EXCHANGE = ("Pcc-p", "Pcc-r-up", "Pcc-r-down")
#: added with VPP classification: TVPP reserve offered straight to the TSO
EXCHANGE_TVPP = ("Tvpp-r-up", "Tvpp-r-down")

#: the element sets in each role's LP (for :attr:`Subproblem.weight`)
_TS_SETS = ("bus", "line", "gen", "wind", "load", "dso")
_DS_SETS = ("dso", "node", "branch", "building", "fleet", "storage", "der")

#: breakpoints of the piecewise-linear proximal term, as fractions of the PCC transformer rating
_BREAKS = np.array([0.0, 1e-4, 3e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.4, 1.0])


def _add_exchange_copy(m: linopy.Model, system: System, names: tuple[str, ...]) -> None:
    """The TSO's copy of every DSO's exchange, within the PCC transformer rating."""
    ds = system.ds
    c = coords(system, "snapshot", "dso")
    m.add_variables(lower=-ds.dso_s_max, upper=ds.dso_s_max, coords=c, name="Pcc-p")
    for name in names[1:]:
        m.add_variables(lower=0, coords=c, name=name)
    b.add_transformer_headroom(m, system)


def _add_proximal(m: linopy.Model, system: System, names: tuple[str, ...]) -> None:
    """x − z = Σ up − Σ down over segments whose costs interpolate ½ dev².

    Segment k of each side covers [a_k, a_{k+1}]·S̄_dso and costs ρ·(a_k + a_{k+1})/2 per
    MW (set each step), so the total interpolates ½d² between the breakpoints. It is
    convex, so the LP fills segments in order without binaries. ∂φ(0) = ρ·[−s₀, s₀] with
    s₀ = 5·10⁻⁵·S̄: a fixed point is a KKT point of the joint problem to within ρ·s₀ on
    the PCC prices. (A flat first segment, ∂φ(0) = {0}, stalled the primal residual at
    the segment's width on the default case: 500 iterations against 58.) Bounded columns
    instead of one tangent row per breakpoint keep the basis small: one row per entry.
    """
    seg = pd.RangeIndex(len(_BREAKS) - 1, name="_segment")
    c = [*coords(system, "snapshot", "dso"), seg]
    width = xr.DataArray(np.r_[np.diff(_BREAKS)[:-1], np.inf], coords=[seg]) * system.ds.dso_s_max
    for name in names:
        x = m.variables[name]
        up = m.add_variables(lower=0, upper=width, coords=c, name=f"Admm-up-{name}")
        down = m.add_variables(lower=0, upper=width, coords=c, name=f"Admm-down-{name}")
        m.add_constraints(x - up.sum("_segment") + down.sum("_segment") == 0,
                          name=f"Admm-target-{name}")


def _segment_slopes(m: linopy.Model, system: System, name: str) -> np.ndarray:
    """Per-MW cost at ρ = 1 of a segment variable's columns, in its label order."""
    seg = pd.RangeIndex(len(_BREAKS) - 1, name="_segment")
    slope = xr.DataArray(0.5 * (_BREAKS[:-1] + _BREAKS[1:]),
                         coords=[seg]) * system.ds.dso_s_max
    lab = m.variables[name].labels
    return slope.broadcast_like(lab).transpose(*lab.dims).values.ravel()


def build_tso(system: System, formulation: str = "angle",
              names: tuple[str, ...] = EXCHANGE) -> linopy.Model:
    """The TSO subproblem: energy + flexibility market with copies of the PCC exchange.

    ``lazy``: no line row in the model (a copper plate); :class:`Subproblem` adds the
    violated lines' rows in place (:class:`~flexnet.blocks.network_ts.LazyLineRows`)."""
    m = new_model()
    _add_exchange_copy(m, system, names)
    monitored = None
    if formulation == "lazy":
        monitored = xr.DataArray(False, coords=coords(system, "snapshot", "line"))
    objective(m, add_ts_side(m, system, formulation=formulation, monitored=monitored))
    _add_proximal(m, system, names)
    return m


def build_dso(system: System, tvpp: dict[str, np.ndarray] | None = None) -> linopy.Model:
    """A DSO subproblem (one or several feeders): local market, grid and PCC offer.

    ``tvpp`` (asset dim → member mask) routes TVPP members' reserve to ``Tvpp-r-*``.
    """
    m = new_model()
    objective(m, add_ds_side(m, system, reserve=True, tvpp=tvpp))
    _add_proximal(m, system, EXCHANGE + (EXCHANGE_TVPP if tvpp is not None else ()))
    return m


class Subproblem:
    """One ADMM agent, built once and updated in place; picklable (rebuilds lazily).

    Its answer depends on the step's arguments only (the ADMM state), so a copy rebuilt
    cold elsewhere (after a worker loss) answers the same step with the same optimum.

    Parameters
    ----------
    role : {"tso", "dso"}
    system_ds : xr.Dataset
        The agent's data: the whole system for the TSO, its DSOs for a DSO group.
    split : bool, default False
        Solve hour by hour while no time-coupling row binds (:class:`SnapshotSplitLP`).
    blocks : int, optional
        Solve the LP as this many independent LPs: its connected components (the
        feeders of a DSO group share no row), packed in order (:class:`ComponentLP`).
        Smaller LPs re-solve faster than one LP of them all.
    drcc : dict, optional
        :func:`flexnet.uncertainty.drcc.drcc_hook` arguments (with the whole system's
        ``kappas``): the agent adds the DRCC rows of its own part of the system.

    With ``formulation="lazy"`` the TSO's line limits are generated: each step re-solves
    warm with the violated lines' rows added until no line is violated, so every step's
    answer is the full network's optimum. The monitored lines are kept (``lines``) and
    a copy rebuilt cold starts with them.
    """

    def __init__(self, role: str, system_ds: xr.Dataset, formulation: str = "angle",
                 options: dict[str, Any] | None = None,
                 tvpp: dict[str, np.ndarray] | None = None, split: bool = False,
                 blocks: int | None = None, drcc: dict[str, Any] | None = None) -> None:
        self.role = role
        self.drcc = drcc
        self.split = split
        self.blocks = blocks
        self.tvpp = tvpp
        self.names = EXCHANGE + (EXCHANGE_TVPP if tvpp is not None else ())
        self.system_ds = system_ds
        self.formulation = formulation
        # warm re-solves are the whole run: no cost perturbation, no scaling (given
        # options override)
        self.options = WARM_OPTIONS | (options or {})
        self._lp: PersistentLP | None = None
        self._system: System | None = None  # built on first use, like the LP
        self._solved = False
        #: lazy TSO: the monitored line positions (kept by copies) and the rounds so far
        self.lines = np.zeros(0, dtype=int)
        self.lazy_rounds = 0
        self._lazy: LazyLineRows | None = None

    def __getstate__(self) -> dict:
        # highspy models do not pickle: a copy rebuilds from its data on first use
        return self.__dict__ | {"_lp": None, "_system": None, "_solved": False, "_lazy": None}

    @property
    def weight(self) -> float:
        """Its size for placing agents on workers: its elements × snapshots (≈ its rows).

        Not its solve time, which no size predicts (the TSO's swings tenfold within a run
        as ramps bind); the measured consequences are in benchmarks/README.md."""
        sets = _TS_SETS if self.role == "tso" else _DS_SETS
        n = self.system_ds.sizes
        return float(n.get("snapshot", 1) * sum(n.get(d, 0) for d in sets))

    @property
    def system(self) -> System:
        from flexnet.grid.system import System

        if self._system is None:
            self._system = System(self.system_ds, validate=False)
        return self._system

    @property
    def lp(self) -> PersistentLP:
        if self._lp is None:
            m = build_tso(self.system, self.formulation, self.names) if self.role == "tso" \
                else build_dso(self.system, self.tvpp)
            if self.drcc is not None:
                from flexnet.uncertainty.drcc import drcc_hook

                drcc_hook(self.system, **self.drcc)[0](m)
            name = f"hierarchical/{self.role}"
            if self.split:
                lp = SnapshotSplitLP(m, self.options, name=name)
            elif self.blocks and self.blocks > 1:
                lp = ComponentLP(m, self.options, name=name, blocks=self.blocks)
            else:
                lp = PersistentLP(m, self.options, name=name)
            self._x = np.stack([lp.cols(n) for n in self.names])        # (exchange, t·d)
            self._dev_rows = np.stack([lp.rows(f"Admm-target-{n}") for n in self.names])
            segs = [f"Admm-{side}-{n}" for n in self.names for side in ("up", "down")]
            self._prox = np.concatenate([lp.cols(v) for v in segs])
            self._slope = np.concatenate([_segment_slopes(m, self.system, v) for v in segs])
            if self.role == "tso" and self.formulation == "lazy":
                self._lazy = LazyLineRows(lp, self.system, self.lines)
            self._lp = lp
        return self._lp

    def build(self) -> dict[str, float]:
        """Build the model now (where the agent lives); returns its size and set-up times."""
        t = time.perf_counter()
        return self.stats() | {"seconds": time.perf_counter() - t}

    def stats(self) -> dict[str, float]:
        """Size, set-up times and the sum of solve seconds so far (:func:`record_stats` row)."""
        out = dict(self.lp.stats)
        if isinstance(self.lp, SnapshotSplitLP):
            out.update(split_runs=self.lp.split_runs, whole_runs=self.lp.whole_runs)
        if self._lazy is not None:
            out.update(lazy_rounds=self.lazy_rounds, monitored_lines=self.lines.size)
        return out

    def step(self, price: np.ndarray, target: np.ndarray, rho: float) -> dict[str, Any]:
        """Solve at prices λ and consensus z (both (exchange, snapshot, dso)) with weight ρ."""
        t0 = time.perf_counter()
        lp = self.lp
        flat = self._x.ravel()
        lp.set_cost(flat, lp.cost[flat] + price.ravel())
        lp.set_cost(self._prox, rho * self._slope)
        lp.set_rhs(self._dev_rows.ravel(), target.ravel())
        if self._lazy is not None:
            before = self._lazy.rounds  # a copy rebuilt cold counts from 0
            status = self._lazy.run("hierarchical TSO")
            self.lines = self._lazy.lines
            self.lazy_rounds += self._lazy.rounds - before
        else:
            status = lp.run()
        self._solved = status == "optimal"
        if status != "optimal":
            return {"status": status, "x": None, "cost": np.nan,
                    "seconds": time.perf_counter() - t0}
        x = lp.values()
        return {"status": status, "x": x[self._x].reshape(price.shape),
                "cost": lp.base_objective(x), "seconds": time.perf_counter() - t0}

    def result(self, price: np.ndarray, target: np.ndarray, rho: float) -> xr.Dataset:
        """Labeled results of the last step, whose arguments these are (a copy rebuilt
        since solves it again)."""
        if not self._solved and self.step(price, target, rho)["status"] != "optimal":
            raise RuntimeError(f"{self.role} subproblem: no optimal solve to report")
        self.lp.assign()
        out = extract(self.lp.model, self.system)
        if self._lazy is not None:
            out["bus_lmp"] = self._lazy.lmp()
        return out


def _groups(system: System, groups: int | None) -> list[list[str]]:
    dsos = list(system.ds.dso.values)
    # small agents keep each warm re-solve short and give dask units to balance: at 500
    # feeders, 8 groups would hold 63 feeders each
    n = min(len(dsos), groups or max(min(len(dsos), 8), -(-len(dsos) // GROUP_FEEDERS)))
    return [list(g) for g in np.array_split(np.array(dsos, dtype=object), n) if len(g)]


def solve_hierarchical(
    system: System,
    *,
    rho: float = 0.1,
    max_iter: int = 500,
    eps_abs: float = 1e-3,
    eps_rel: float = 1e-4,
    groups: int | None = None,
    formulation: str = "auto",
    vpp: bool | pd.DataFrame = False,
    parallel: bool | str = "auto",
    workers: int | None = None,
    scheduler_address: str | None = None,
    progress: bool = True,
    split_tso: bool = True,
    drcc: dict[str, Any] | None = None,
    **options: Any,
) -> Result:
    """Solve the hierarchical scheme by ADMM on the PCC exchange.

    Parameters
    ----------
    rho : float
        Initial ADMM penalty in $/MW²h (residual balancing adapts it).
    max_iter : int
        Iteration cap; reaching it gives status ``max_iterations`` and a warning.
    eps_abs, eps_rel : float
        Boyd et al. stopping tolerances (MW and relative).
    groups : int, optional
        DSO subproblems: the DSOs are split into this many groups, one model each, in
        which every feeder is its own LP (``BLOCK_FEEDERS``). Default: serially one group
        (one linopy build for all feeders: 100 feeders built in 4.7 s instead of 15.1 s
        as 9 groups); on dask one per DSO up to 8 DSOs, then groups of at most 12
        feeders, units for the workers to share. The feeders' LPs are the same either
        way, so serial and dask runs give the same iterates.
    formulation : {"auto", "angle", "ptdf", "lazy"}
        The TSO agent's DC network. ``lazy``: line limits generated as rows added in
        place, each step exact (:class:`Subproblem`). ``auto`` is ``angle`` here at every
        size: measured, lazy was not faster end to end (docs/transmission.md).
    vpp : bool or DataFrame
        ``True`` classifies the distributed resources with :func:`flexnet.vpp.classify`
        (or pass its table): TVPP members' reserve is offered straight to the TSO
        (``Tvpp-r-*``, two more exchanged quantities), DVPP members' through the DSO's
        local market (``Pcc-r-*``). ``False``: every resource is in a DVPP.
    parallel, workers, scheduler_address
        ``True`` runs the agents on dask (a LocalCluster of ``workers`` processes, or the
        scheduler at ``scheduler_address``); ``"auto"`` does so when either is given
        (:func:`flexnet.parallel.use_dask`). The agents are placed once, by size; on small
        cases the workers' start-up outweighs the gain (docs/scaling.md).
    split_tso : bool, default True
        Solve the TSO subproblem as one LP per hour, and as a whole only when a ramp
        binds, warm from the hourly bases (:class:`flexnet.solver.SnapshotSplitLP`; the
        result is the same); much faster on large TSOs (docs/scaling.md).
    drcc : dict, optional
        DRCC margins in every agent (:func:`flexnet.uncertainty.solve_drcc` with
        ``scheme="hierarchical"`` passes them): the TSO tightens its reserve and
        generator rows, each DSO its voltage, branch and PCC rows.
    **options
        Solver options for every agent (``threads``, ``time_limit``, HiGHS option names).
        The agents re-solve warm without cost perturbation and scaling
        (:data:`flexnet.solver.WARM_OPTIONS`) unless these options say otherwise. A DSO
        group's LP is solved as one LP per ``BLOCK_FEEDERS`` feeders.

    Returns
    -------
    Result
        The TSO's and DSOs' results merged (the PCC exchange as the DSOs scheduled it),
        plus ``admm_*`` history on an ``iteration`` dim and the PCC prices.
    """
    if not (system.has_ts and system.has_ds):
        raise DataError(f"system {system.name!r}: the hierarchical scheme needs a TS and at "
                        "least one DSO")
    # auto: angle at every size; lazy was not faster end to end on the synthetic
    # 2,000 × 500 and raised its peak memory (benchmarks/README.md, "bench_large.py")
    formulation = "angle" if formulation == "auto" else formulation
    with executor(parallel, workers, scheduler_address) as client:
        # serially, groups only add linopy builds (≈ 1.3 s each however small); the
        # feeder LPs inside are the same, as long as each feeder is one
        parts = _groups(system, groups or (None if client is not None or BLOCK_FEEDERS != 1
                                           else 1))
        table = None
        if vpp is not False:
            from flexnet.vpp import classify

            table = classify(system) if vpp is True else vpp
        subs = [system.select(g) for g in parts]
        names = EXCHANGE + (EXCHANGE_TVPP if table is not None else ())
        agents = [Subproblem("tso", system.ds, formulation, options,
                             tvpp=_masks(system, table), split=split_tso, drcc=drcc)] + [
            Subproblem("dso", sub.ds, formulation, options, tvpp=_masks(sub, table),
                       blocks=-(-sub.n("dso") // BLOCK_FEEDERS), drcc=drcc) for sub in subs]
        dsos = list(system.ds.dso.values)
        shares = [slice(None)] + [np.array([dsos.index(d) for d in g]) for g in parts]
        t0 = time.perf_counter()
        with AgentPool(agents, client, weights=[a.weight for a in agents]) as pool:
            built = pool.call("build")
            t_build = time.perf_counter() - t0
            log.info("hierarchical: %d subproblems built in %.1f s", len(agents), t_build)
            state = admm(pool, shares, (len(names), system.n("snapshot"), len(dsos)),
                         rho=rho, tol=Tolerances(eps_abs, eps_rel, max_iter),
                         labels=["the TSO"] + [f"DSO group {g}" for g in parts],
                         record=lambda st: {"pcc_price": _dso_side(st, shares)[0].mean(axis=0)},
                         scheme="hierarchical", progress=progress)
            parts_ds = pool.call("result", state.last_args)
            sizes = pd.DataFrame(pool.call("stats"))
        wall = time.perf_counter() - t0
    res = _merge(system, parts_ds)
    lam_d = _dso_side(state, shares)
    res = res.assign(**_prices(system, lam_d))
    extra_vpp = {}
    if table is not None:
        x_d = state.gather(state.x[1:], shares[1:])
        res["tvpp_flex_up"] = xr.DataArray(x_d[3], coords=res.pcc_p.coords)
        res["tvpp_flex_down"] = xr.DataArray(x_d[4], coords=res.pcc_p.coords)
        extra_vpp = {"vpp_k": table.attrs["k"], "vpp_tvpp_members": int(
            (table.vpp_class == "TVPP").sum()), "vpp_dvpp_members": int(
            (table.vpp_class == "DVPP").sum())}
    hist = _history(state, dsos)
    res = xr.merge([res, hist])
    status = "optimal" if state.converged else "max_iterations"
    if not state.converged:
        warnings.warn(f"hierarchical: ADMM did not converge in {max_iter} iterations "
                      f"(primal residual {hist.admm_primal_residual.values[-1]:.3g} MW); "
                      "the result is not the joint optimum — raise max_iter or tune rho",
                      RuntimeWarning, stacklevel=2)
    runs = {k: int(sizes[k].sum()) if k in sizes else 0 for k in ("split_runs", "whole_runs")}
    return finalize(res, system, scheme="hierarchical-vpp" if table is not None
                    else "hierarchical", status=status, objective=state.cost,
                    extra={"admm_iterations": len(hist.iteration),
                           "admm_build_s": t_build,
                           "admm_build_max_s": max(b["seconds"] for b in built),
                           "admm_vars": int(sizes.vars.sum()), "admm_cons": int(sizes.cons.sum()),
                           "admm_nonzeros": int(sizes.nonzeros.sum()),
                           "admm_handoff_s": float(sizes.handoff_s.sum()),
                           "admm_solve_s": float(sizes.solve_s.sum()),
                           "admm_converged": int(state.converged), "admm_wall_s": wall,
                           "admm_subproblems": len(agents),
                           # independent LPs the DSO groups are solved as (see BLOCK_FEEDERS)
                           "admm_dso_lps": int(sizes.get("blocks", pd.Series(1.0, sizes.index))
                                               .iloc[1:].fillna(1).sum()),
                           "formulation": formulation,
                           **({k: int(sizes[k].iloc[0]) for k in ("lazy_rounds",
                                                                  "monitored_lines")}
                              if formulation == "lazy" else {}),
                           "admm_tso_split_runs": runs["split_runs"],
                           "admm_tso_whole_runs": runs["whole_runs"],
                           "vpp_classification": int(table is not None), **extra_vpp})


def _dso_side(state: AdmmState, shares: list) -> np.ndarray:
    """The DSO groups' multipliers on z's shape (exchange, snapshot, dso)."""
    return state.gather(state.lam[1:], shares[1:])


def _history(state: AdmmState, dsos: list) -> xr.Dataset:
    """The ADMM history as ``admm_*`` variables on an ``iteration`` dim."""
    rows = pd.DataFrame(state.history)
    it = np.arange(len(rows))
    out = {f"admm_{k}": ("iteration", rows[k].to_numpy(dtype=float))
           for k in rows.columns if k != "pcc_price"}
    out["admm_pcc_price"] = (("iteration", "dso"), np.stack(rows.pcc_price.to_list()))
    return xr.Dataset(out, coords={"iteration": it, "dso": dsos})


def _masks(system: System, table: pd.DataFrame | None) -> dict[str, np.ndarray] | None:
    """Asset dim → TVPP-member mask for the assets of ``system`` (None: no classification)."""
    if table is None:
        return None
    members = table[table.vpp_class == "TVPP"]
    return {k: np.isin(system.ds[k].values, members.asset[members.kind == k].values)
            for k in ("building", "fleet", "storage", "der") if k in system.ds.dims}


def _prices(system: System, lam_d: np.ndarray) -> dict[str, xr.DataArray]:
    c = {"snapshot": system.ds.snapshot.values, "dso": system.ds.dso.values}
    dims = ("snapshot", "dso")
    out = {"pcc_price": xr.DataArray(lam_d[0], coords=c, dims=dims),
           "pcc_flex_price_up": xr.DataArray(-lam_d[1], coords=c, dims=dims),
           "pcc_flex_price_down": xr.DataArray(-lam_d[2], coords=c, dims=dims)}
    if lam_d.shape[0] > 3:
        out["tvpp_flex_price_up"] = xr.DataArray(-lam_d[3], coords=c, dims=dims)
        out["tvpp_flex_price_down"] = xr.DataArray(-lam_d[4], coords=c, dims=dims)
    return out


def _merge(system: System, parts: list[xr.Dataset]) -> xr.Dataset:
    """TSO results plus every DSO group's, in the system's element order."""
    ts = parts[0].drop_vars([v for v in parts[0].data_vars if str(v).startswith("pcc_")])
    ds_parts = xr.merge(parts[1:], join="outer", compat="no_conflicts")
    out = xr.merge([ts, ds_parts], join="outer", compat="no_conflicts")
    order = {d: system.ds[d].values for d in out.dims if d in system.ds.dims}
    return out.reindex(order)


def solve_hierarchical_vpp(system: System, **options: Any) -> Result:
    """The hierarchical scheme with Canopy + K-medoids VPP classification (``vpp=True``)."""
    return solve_hierarchical(system, vpp=options.pop("vpp", True), **options)
