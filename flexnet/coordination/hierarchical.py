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

ρ is residual-balanced (×/÷ 2 when one residual exceeds 10× the other) and the loop stops
by Boyd et al.'s rule (2011, §3.3): ‖r‖ ≤ √p ε_abs + ε_rel max(‖x‖, ‖z‖) and
‖s‖ ≤ √p ε_abs + ε_rel ‖λ‖. Hitting ``max_iter`` returns status ``max_iterations``, with
a warning; it is never reported as converged.
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
from tqdm.auto import tqdm

from flexnet import blocks as b
from flexnet.blocks.common import coords
from flexnet.coordination.centralized import add_ds_side, add_ts_side, objective
from flexnet.errors import DataError, InfeasibleError, SolverError
from flexnet.parallel import ModelPool
from flexnet.progress import Ticker
from flexnet.progress import mode as progress_mode
from flexnet.results import extract, finalize
from flexnet.solver import OWN_START_MAX_ROWS, WARM_OPTIONS, PersistentLP, SnapshotSplitLP, new_model

if TYPE_CHECKING:
    from flexnet.grid.system import System
    from flexnet.results import Result

__all__ = ["EXCHANGE", "Subproblem", "solve_hierarchical", "solve_hierarchical_vpp"]

log = logging.getLogger("flexnet")

#: most feeders in one DSO subproblem by default (see ``_groups``)
GROUP_FEEDERS = 12
#: feeders per independent LP inside a DSO group's subproblem (see ``Subproblem``)
BLOCK_FEEDERS = 1
#: threads solving the TSO's hourly LPs at once on dask, where the TSO leads
#: (``ModelPool(lead=...)``) and the DSO groups' lanes yield to it; serially one
TSO_BLOCK_THREADS = 2
#: ADMM iterations after which the agents may be re-placed by their recent solve times
REBALANCE_AT = (2, 5, 10, 20, 40, 80, 160)
#: the exchanged quantities (snapshot, dso), in this order on the ``exchange`` dim
EXCHANGE = ("Pcc-p", "Pcc-r-up", "Pcc-r-down")
#: added with VPP classification: TVPP reserve offered straight to the TSO
EXCHANGE_TVPP = ("Tvpp-r-up", "Tvpp-r-down")

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
    """The TSO subproblem: energy + flexibility market with copies of the PCC exchange."""
    m = new_model()
    _add_exchange_copy(m, system, names)
    objective(m, add_ts_side(m, system, formulation=formulation))
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

    Parameters
    ----------
    role : {"tso", "dso"}
    system_ds : xr.Dataset
        The agent's data: the whole system for the TSO, its DSOs for a DSO group.
    split : bool, default False
        Solve hour by hour while no time-coupling row binds (:class:`SnapshotSplitLP`).
    blocks : int, optional
        Solve the LP as this many independent LPs: its connected components (the
        feeders of a DSO group share no row), packed in order (``SnapshotSplitLP`` with
        ``by="components"``). Smaller LPs re-solve faster than one LP of them all.
    """

    def __init__(self, role: str, system_ds: xr.Dataset, formulation: str = "angle",
                 options: dict[str, Any] | None = None,
                 tvpp: dict[str, np.ndarray] | None = None, split: bool = False,
                 blocks: int | None = None, block_threads: int = 1) -> None:
        self.role = role
        self.split = split
        self.blocks = blocks
        self.block_threads = block_threads
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

    def __getstate__(self) -> dict:
        # highspy models do not pickle: a copy rebuilds from its data on first use (the
        # ModelPool replays the last step on a re-created agent)
        return self.__dict__ | {"_lp": None, "_system": None, "_solved": False}

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
            name = f"hierarchical/{self.role}"
            if self.split:
                lp = SnapshotSplitLP(m, self.options, name=name)
                # threads pay where the hourly LPs are solved at every run (LPs above
                # OWN_START_MAX_ROWS): ACTIVSg2000's TSO solve 1.60 → 1.05 s. On the
                # 200-bus TSO the second thread took CPU from the DSO groups instead
                # (100 feeders, 2 workers: 0.581 → 0.595–0.600 s per iteration)
                if lp.stats["cons"] > OWN_START_MAX_ROWS:
                    lp.block_threads = self.block_threads
            elif self.blocks and self.blocks > 1:
                lp = SnapshotSplitLP(m, self.options, name=name, by="components",
                                     blocks=self.blocks)
            else:
                lp = PersistentLP(m, self.options, name=name)
            self._x = np.stack([lp.cols(n) for n in self.names])        # (exchange, t·d)
            self._dev_rows = np.stack([lp.rows(f"Admm-target-{n}") for n in self.names])
            segs = [f"Admm-{side}-{n}" for n in self.names for side in ("up", "down")]
            self._prox = np.concatenate([lp.cols(v) for v in segs])
            self._slope = np.concatenate([_segment_slopes(m, self.system, v) for v in segs])
            self._lp = lp
        return self._lp

    def build(self) -> dict[str, float]:
        """Build the model now (where the agent lives); returns its size and set-up times."""
        t = time.perf_counter()
        return self.stats() | {"seconds": time.perf_counter() - t}

    def stats(self) -> dict[str, float]:
        """Size, set-up times and the sum of solve seconds so far (:func:`record_stats` row)."""
        out = dict(self.lp.stats)
        if self.role == "tso" and isinstance(self.lp, SnapshotSplitLP):
            out.update(split_runs=self.lp.split_runs, whole_runs=self.lp.whole_runs)
        return out

    def step(self, price: np.ndarray, target: np.ndarray, rho: float) -> dict[str, Any]:
        """Solve at prices λ and consensus z (both (exchange, snapshot, dso)) with weight ρ."""
        t0 = time.perf_counter()
        lp = self.lp
        flat = self._x.ravel()
        lp.set_cost(flat, lp.cost[flat] + price.ravel())
        lp.set_cost(self._prox, rho * self._slope)
        lp.set_rhs(self._dev_rows.ravel(), target.ravel())
        status = lp.run()
        self._solved = status == "optimal"
        if status != "optimal":
            return {"status": status, "x": None, "cost": np.nan,
                    "seconds": time.perf_counter() - t0}
        x = lp.values()
        return {"status": status, "x": x[self._x].reshape(price.shape),
                "cost": lp.base_objective(x), "seconds": time.perf_counter() - t0}

    def result(self) -> xr.Dataset:
        """Labeled results of the last solve (variables and duals by name)."""
        if not self._solved:
            raise RuntimeError(f"{self.role} subproblem: no optimal solve to report")
        self.lp.assign()
        return extract(self.lp.model, self.system)


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
    vpp : bool or DataFrame
        ``True`` classifies the distributed resources with :func:`flexnet.vpp.classify`
        (or pass its table): TVPP members' reserve is offered straight to the TSO
        (``Tvpp-r-*``, two more exchanged quantities), DVPP members' through the DSO's
        local market (``Pcc-r-*``). ``False``: every resource is in a DVPP.
    parallel, workers, scheduler_address
        ``True`` runs the agents on dask (a LocalCluster of ``workers`` processes, or the
        scheduler at ``scheduler_address``); ``"auto"`` does so when either is given.
        On 2 cores, 2 workers made ADMM iterations 1.7–2.0× faster at 100–300 feeders and
        on ACTIVSg2000 + 500 feeders, less where the TSO's own solve dominates (1.5× on
        the synthetic 2,000 × 500; docs/scaling.md); on small cases the workers' start-up
        outweighs the gain.
    split_tso : bool, default True
        Solve the TSO subproblem as one LP per hour, and as a whole only when a ramp
        binds, warm from the hourly bases (:class:`flexnet.solver.SnapshotSplitLP`; the
        result is the same). On the 2,000-bus TSO a cold solve took 26 s instead of
        ≈ 10 min.
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
    from flexnet.coordination.centralized import resolve_formulation

    formulation = resolve_formulation(formulation, system, "hierarchical", lazy=False)
    show = progress and progress_mode() != "0"
    # "auto": dask only when asked for workers or a scheduler: a LocalCluster takes ≈ 1.4 s
    # and 124 MB per worker to start, more than a small case's whole ADMM run
    use_dask = parallel is True or (parallel == "auto" and (
        scheduler_address is not None or workers is not None))
    # serially, groups only add linopy builds (≈ 1.3 s each however small); the feeder
    # LPs inside are the same, as long as each feeder is one
    parts = _groups(system, groups or (None if use_dask or BLOCK_FEEDERS != 1 else 1))
    table = None
    if vpp is not False:
        from flexnet.vpp import classify

        table = classify(system) if vpp is True else vpp
    subs = [system.select(g) for g in parts]
    names = EXCHANGE + (EXCHANGE_TVPP if table is not None else ())
    agents = [Subproblem("tso", system.ds, formulation, options, tvpp=_masks(system, table),
                         split=split_tso, block_threads=TSO_BLOCK_THREADS if use_dask else 1)] + [
        Subproblem("dso", sub.ds, formulation, options, tvpp=_masks(sub, table),
                   blocks=-(-sub.n("dso") // BLOCK_FEEDERS)) for sub in subs]
    t0 = time.perf_counter()
    # the TSO leads: its re-solves (seconds, when ramps bind) overlap the DSO groups' solves
    with ModelPool(agents, parallel=use_dask, workers=workers,
                   scheduler_address=scheduler_address, lead=[0]) as pool:
        t_build = time.perf_counter()
        built = pool.call("build")
        t_build = time.perf_counter() - t_build
        log.info("hierarchical: %d subproblems built in %.1f s", len(agents), t_build)
        hist, state = _admm(system, parts, pool, names, built=built, rho=rho, max_iter=max_iter,
                            eps_abs=eps_abs, eps_rel=eps_rel, show=show)
        parts_ds = pool.call("result")
        sizes = pd.DataFrame(pool.call("stats"))
    wall = time.perf_counter() - t0
    res = _merge(system, parts_ds)
    res = res.assign(**_prices(system, state["lam_d"]))
    extra_vpp = {}
    if table is not None:
        res["tvpp_flex_up"] = xr.DataArray(state["x_d"][3], coords=res.pcc_p.coords)
        res["tvpp_flex_down"] = xr.DataArray(state["x_d"][4], coords=res.pcc_p.coords)
        extra_vpp = {"vpp_k": table.attrs["k"], "vpp_tvpp_members": int(
            (table.vpp_class == "TVPP").sum()), "vpp_dvpp_members": int(
            (table.vpp_class == "DVPP").sum())}
    res = xr.merge([res, hist])
    converged = state["converged"]
    status = "optimal" if converged else "max_iterations"
    if not converged:
        warnings.warn(f"hierarchical: ADMM did not converge in {max_iter} iterations "
                      f"(primal residual {hist.admm_primal_residual.values[-1]:.3g} MW); "
                      "the result is not the joint optimum — raise max_iter or tune rho",
                      RuntimeWarning, stacklevel=2)
    return finalize(res, system, scheme="hierarchical-vpp" if table is not None
                    else "hierarchical", status=status,
                    objective=state["cost"],
                    extra={"admm_iterations": len(hist.iteration),
                           "admm_build_s": t_build, "admm_build_max_s": max(b["seconds"] for b in built),
                           "admm_vars": int(sizes.vars.sum()), "admm_cons": int(sizes.cons.sum()),
                           "admm_nonzeros": int(sizes.nonzeros.sum()),
                           "admm_handoff_s": float(sizes.handoff_s.sum()),
                           "admm_solve_s": float(sizes.solve_s.sum()),
                           "admm_converged": int(converged), "admm_wall_s": wall,
                           "admm_subproblems": len(agents), "admm_agents_moved": state["moved"],
                           # independent LPs the DSO groups are solved as (see BLOCK_FEEDERS)
                           "admm_dso_lps": int(sizes.get("blocks", pd.Series(1.0, sizes.index))
                                               .iloc[1:].fillna(1).sum()),
                           "formulation": formulation,
                           "admm_tso_split_runs": int(sizes.get("split_runs", pd.Series([0])).sum()),
                           "admm_tso_whole_runs": int(sizes.get("whole_runs", pd.Series([0])).sum()),
                           "vpp_classification": int(table is not None), **extra_vpp})


def _masks(system: System, table: pd.DataFrame | None) -> dict[str, np.ndarray] | None:
    """Asset dim → TVPP-member mask for the assets of ``system`` (None: no classification)."""
    if table is None:
        return None
    members = table[table.vpp_class == "TVPP"]
    return {k: np.isin(system.ds[k].values, members.asset[members.kind == k].values)
            for k in ("building", "fleet", "storage", "der") if k in system.ds.dims}


def _admm(system: System, parts: list[list[str]], pool: ModelPool, names: tuple[str, ...], *,
          built: list[dict], rho: float,
          max_iter: int, eps_abs: float, eps_rel: float, show: bool) -> tuple[xr.Dataset, dict]:
    dsos = list(system.ds.dso.values)
    shape = (len(names), system.n("snapshot"), len(dsos))
    pos = [[dsos.index(d) for d in g] for g in parts]
    z = np.zeros(shape)
    lam_t, lam_d = np.zeros(shape), np.zeros(shape)
    p = z.size
    rows: list[tuple] = []
    converged = False
    cost = np.nan
    spent = np.zeros(len(parts) + 1)  # per-agent solve seconds so far
    spent_then, last = spent.copy(), 0  # at the last rebalance check (first: iteration 0)
    bar = tqdm(total=max_iter, desc="ADMM", disable=not show or progress_mode() != "bar")
    ticker = Ticker("ADMM", show)
    for it in range(max_iter):
        t_it = time.perf_counter()
        args = [(lam_t, z, rho)] + [(lam_d[:, :, i], z[:, :, i], rho) for i in pos]
        out = pool.call("step", args)
        seconds = [o["seconds"] for o in out]
        # before a rebalance moves agents; the TSO runs beside its worker's DSO groups
        busiest = max(*pool.worker_loads(seconds), seconds[0])
        spent += seconds
        if it == 0:  # cold solves: not a guide to the warm ones that follow
            spent_then = spent.copy()
        if it in REBALANCE_AT:
            # even out the workers' loads by the warm solve times since the last check:
            # they drift (the 600-bus TSO's went 0.3 → 1.5 s), and iteration 0's cold
            # times rank the agents differently. Exact: a moved agent's copy replays its
            # steps in the idle time of its new worker before it takes over.
            recent = (spent - spent_then) / (it - last)
            pool.rebalance(recent, background=True, setup=[b["seconds"] for b in built])
            spent_then, last = spent.copy(), it
        pool.catch_up(seconds)  # budgets the copies' replays in the next iteration
        bad = [k for k, o in enumerate(out) if o["status"] != "optimal"]
        if bad:
            who = "the TSO" if bad[0] == 0 else f"DSO group {parts[bad[0] - 1]}"
            err = InfeasibleError if "infeasible" in out[bad[0]]["status"] else SolverError
            raise err(f"ADMM iteration {it}: the subproblem of {who} is not solvable",
                      scheme="hierarchical", status=out[bad[0]]["status"],
                      hint="solve the case with scheme='centralized' to locate the cause")
        x_t = out[0]["x"]
        x_d = np.zeros(shape)
        for i, o in zip(pos, out[1:], strict=True):
            x_d[:, :, i] = o["x"]
        z_old = z
        z = 0.5 * (x_t + x_d)
        lam_t = lam_t + rho * (x_t - z)
        lam_d = lam_d + rho * (x_d - z)
        r = float(np.sqrt(((x_t - z) ** 2).sum() + ((x_d - z) ** 2).sum()))
        s = float(rho * np.sqrt(2.0 * ((z - z_old) ** 2).sum()))
        eps_pri = np.sqrt(2 * p) * eps_abs + eps_rel * max(
            np.sqrt((x_t**2).sum() + (x_d**2).sum()), np.sqrt(2 * (z**2).sum()))
        eps_dual = np.sqrt(2 * p) * eps_abs + eps_rel * np.sqrt((lam_t**2).sum() + (lam_d**2).sum())
        cost = float(sum(o["cost"] for o in out))
        rows.append((r, s, rho, cost, time.perf_counter() - t_it, lam_d[0].mean(axis=0),
                     max(seconds), sum(seconds), busiest))
        bar.update()
        bar.set_postfix(r=f"{r:.2g}", s=f"{s:.2g}", rho=f"{rho:.3g}")
        ticker.update(iteration=it, primal_residual=f"{r:.3g} MW", dual_residual=f"{s:.3g}")
        if it > 0 and r <= eps_pri and s <= eps_dual:
            converged = True
            break
        # residual balancing (Boyd et al. 2011, §3.4.1); λ is unscaled, so it stays put
        if r > 10 * s:
            rho *= 2.0
        elif s > 10 * r:
            rho /= 2.0
    bar.close()
    it_idx = np.arange(len(rows))
    hist = xr.Dataset({
        "admm_primal_residual": ("iteration", [q[0] for q in rows]),
        "admm_dual_residual": ("iteration", [q[1] for q in rows]),
        "admm_rho": ("iteration", [q[2] for q in rows]),
        "admm_cost": ("iteration", [q[3] for q in rows]),
        "admm_iteration_s": ("iteration", [q[4] for q in rows]),
        "admm_pcc_price": (("iteration", "dso"), np.stack([q[5] for q in rows])),
        "admm_largest_solve_s": ("iteration", [q[6] for q in rows]),
        "admm_solve_sum_s": ("iteration", [q[7] for q in rows]),
        "admm_busiest_worker_s": ("iteration", [q[8] for q in rows]),
    }, coords={"iteration": it_idx, "dso": dsos})
    return hist, {"lam_d": lam_d, "x_d": x_d, "converged": converged, "cost": cost,
                  "moved": pool.moves}


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
