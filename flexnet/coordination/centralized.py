"""Centralized scheme: the joint TS + all-DS optimum (a common TSO–DSO market)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import linopy
import numpy as np
import pandas as pd
import xarray as xr

from flexnet import blocks as b
from flexnet.errors import SolverError
from flexnet.results import extract, finalize
from flexnet.solver import new_model, run_highs

if TYPE_CHECKING:
    from flexnet.grid.system import System
    from flexnet.results import Result


def add_ds_side(m: linopy.Model, system: System, *, reserve: bool,
                network: bool = True, tvpp: dict | None = None) -> list:
    """DS assets, shedding, LinDistFlow (and the PCC flexibility when ``reserve``;
    ``tvpp`` routes the reserve of TVPP members to the TSO, see
    :func:`flexnet.blocks.add_pcc_flexibility`)."""
    costs = [
        b.add_buildings(m, system, reserve=reserve),
        b.add_fleets(m, system, reserve=reserve),
        b.add_storage(m, system, reserve=reserve),
        b.add_der(m, system, reserve=reserve),
        b.add_ds_shedding(m, system),
    ]
    b.add_distribution(m, system, network=network)
    if reserve:
        b.add_pcc_flexibility(m, system, tvpp)
    return costs


#: systems with more lines than this use the lazy formulation under ``formulation="auto"``
#: (the measured crossover, benchmarks/README.md "bench_ts.py --sweep")
LAZY_FROM_LINES = 1500
#: a line is violated when |f| > F̄ (1 + LAZY_TOL)
LAZY_TOL = 1e-6
#: constraint-generation rounds before giving up (each adds every violated pair)
LAZY_MAX_ROUNDS = 30


#: statuses with a plan whose flows can be checked (max_rounds, stalled: nested's
#: hour-by-hour decomposition)
HAS_PLAN = ("optimal", "time_limit", "max_rounds", "stalled")


def resolve_formulation(formulation: str, system: System, scheme: str = "centralized",
                        lazy: bool = True) -> str:
    """``"auto"`` → ``"lazy"`` on systems with more than :data:`LAZY_FROM_LINES` lines
    (where the scheme supports it, ``lazy``), else ``"angle"``; others unchanged.

    Raises
    ------
    OptionError
        ``"lazy"`` for a scheme that does not support it.
    """
    from flexnet.options import OptionError

    if formulation == "lazy" and not lazy:
        raise OptionError(f"{scheme}: formulation 'lazy' is available for the centralized, "
                          "sequential, nested and hierarchical schemes (and DRCC and the "
                          "interval repair rounds); use 'auto', 'angle' or 'ptdf'")
    if formulation != "auto":
        return formulation
    big = system.has_ts and system.n("line") > LAZY_FROM_LINES
    return "lazy" if big and lazy else "angle"


def solve_with_network(build: Callable[[xr.DataArray | None], linopy.Model], system: System,
                       formulation: str, *, scheme: str, options: dict[str, Any],
                       pcc: xr.DataArray | None = None) -> tuple[linopy.Model, str, dict]:
    """Build and solve a model that contains the TS network.

    ``build(monitored)`` builds the model; ``monitored`` is None except for the ``lazy``
    formulation (:func:`solve_lazy`), where it says which (hour, line) limits are rows.

    Returns the model, its status and the attrs ``lazy_rounds`` (solves),
    ``monitored_lines`` and ``monitored_pairs`` (empty for the other formulations).
    """
    if formulation != "lazy":
        m = build(None)
        return m, run_highs(m, scheme=scheme, system=system, options=options), {}
    m, status, info, _ = solve_lazy(build, system, scheme=scheme, options=options, pcc=pcc)
    return m, status, info


def solve_lazy(build: Callable[[xr.DataArray], linopy.Model], system: System, *,
               scheme: str, options: dict[str, Any], pcc: xr.DataArray | None = None,
               ) -> tuple[linopy.Model, str, dict, xr.DataArray]:
    """An LP with lazy line limits (:func:`lazy_rounds`), each round from the previous
    round's HiGHS basis (:class:`_Basis`). Returns the model, its status, the attrs and
    the final monitored set."""
    warm = _Basis()

    def step(monitored: xr.DataArray) -> tuple[linopy.Model, str, linopy.Model]:
        m = build(monitored)
        h = warm.solve(m, scheme, options)
        status = "optimal" if h is not None else run_highs(m, scheme=scheme, system=system,
                                                          options=options)
        warm.keep(m, h)
        return m, status, m

    return lazy_rounds(step, system, scheme=scheme, pcc=pcc, hint="use formulation='angle'")


def lazy_rounds(step: Callable[[xr.DataArray], tuple[linopy.Model, str, Any]], system: System,
                *, scheme: str, hint: str, monitored: xr.DataArray | None = None,
                pcc: xr.DataArray | None = None) -> tuple[Any, str, dict, xr.DataArray]:
    """Constraint generation on line limits.

    ``step(monitored)`` builds and solves a model whose line limits are rows only where
    ``monitored`` (snapshot, line) is True and returns (model, status, anything). Start
    with ``monitored`` (default none: a copper plate first), compute every line's flow
    from the solved injections (:meth:`~flexnet.grid.topology.DCNetwork.flows`), monitor
    every violated line in every hour, and step again until no limit is violated. Each
    model is a relaxation of the full one and the last is feasible for it, so the last
    optimum is the full optimum.

    Returns the last step's third value, its status, the attrs ``lazy_rounds`` (steps),
    ``monitored_lines`` and ``monitored_pairs``, and the final monitored set.

    Raises
    ------
    SolverError
        If lines are still violated after :data:`LAZY_MAX_ROUNDS` steps (``hint`` says
        what to do instead).
    """
    from flexnet.blocks.network_ts import monitor

    if monitored is None:
        monitored = monitor(system, [])
    for rounds in range(1, LAZY_MAX_ROUNDS + 1):
        m, status, out = step(monitored)
        over = _new_overloads(m, system, monitored, pcc) if status in HAS_PLAN else None
        if over is None:
            return out, status, {"lazy_rounds": rounds,
                                 "monitored_lines": int(monitored.any("snapshot").sum()),
                                 "monitored_pairs": int(monitored.sum())}, monitored
        # a line violated in any hour is monitored in every hour: only the violated hours
        # took > 30 rounds on case1354pegase (each optimal vertex overloaded other hours)
        monitored = monitored | over.any("snapshot").broadcast_like(monitored)
    raise SolverError(f"{scheme}: lines still overloaded after {LAZY_MAX_ROUNDS} lazy rounds",
                      scheme=scheme, status="iteration_limit", hint=hint)


class _Basis:
    """The last lazy round's HiGHS basis, carried to the next round's model.

    Rounds differ only by added line rows, so the columns are the same and every old row
    keeps its status (matched by constraint name and coordinates); the new rows start
    basic (their slacks). That basis stays dual feasible: dual simplex continues from
    the previous optimum instead of a cold start.
    """

    def __init__(self) -> None:
        self.model: linopy.Model | None = None

    def keep(self, m: linopy.Model, h: Any) -> None:
        """Keep ``m``'s optimal basis (from ``h``, or its last :func:`run_highs`)."""
        from flexnet.solver import highs_of

        h = h if h is not None else highs_of(m)
        if h is None or not h.getBasis().valid:
            self.model = None
            return
        self.model, self.basis = m, h.getBasis()
        self.rows = pd.Index(np.asarray(m.matrices.clabels))

    def solve(self, m: linopy.Model, scheme: str, options: dict[str, Any]) -> Any:
        """Solve ``m`` warm and write its solution and duals onto it; return the HiGHS
        object, or None when there is no basis or the warm solve is not optimal (the
        caller then solves cold, which reports any failure)."""
        import highspy

        from flexnet.solver import PersistentLP

        if self.model is None:
            return None
        lp = PersistentLP(m, {k: v for k, v in options.items() if k != "warmstart_fn"},
                          name=scheme)
        if lp.h.getNumCol() != len(self.basis.col_status):
            return None
        old_status = np.array(self.basis.row_status, dtype=object)
        rows = np.full(int(lp.h.getNumRow()), highspy.HighsBasisStatus.kBasic, dtype=object)
        for name, con in m.constraints.items():  # a few dozen constraint families
            new = con.labels.values.ravel()
            old = (self.model.constraints[name].labels.reindex_like(con.labels, fill_value=-1)
                   .values.ravel() if name in self.model.constraints else np.full(new.size, -1))
            keep = (new >= 0) & (old >= 0)
            rows[lp.rows(name)[keep]] = old_status[self.rows.get_indexer(old[keep])]
        basis = highspy.HighsBasis()
        basis.col_status = list(self.basis.col_status)
        basis.row_status = list(rows)
        basis.valid = True
        if lp.h.setBasis(basis) != highspy.HighsStatus.kOk or lp.run() != "optimal":
            return None
        lp.assign(duals=True)
        return lp.h


def _new_overloads(m: linopy.Model, system: System, monitored: xr.DataArray,
                   pcc: xr.DataArray | None = None) -> xr.DataArray | None:
    """The (hour, line) pairs over their limit at ``m``'s solution — all of them, as a
    mask — if any is not monitored yet; else None (the lazy rounds are done)."""
    from flexnet.blocks.network_ts import net_injection
    from flexnet.grid.topology import dc_network

    flow = abs(dc_network(system).flows(net_injection(m, system, pcc=pcc)))
    over = flow > system.ds.line_s_max * (1 + LAZY_TOL)
    return over if bool((over & ~monitored).any()) else None


def add_ts_side(m: linopy.Model, system: System, *, formulation: str, pcc=None,
                monitored: xr.DataArray | None = None) -> list:
    """Generators, wind, TS shedding, the DC network and the flexibility requirement."""
    costs = [b.add_generators(m, system), b.add_wind(m, system), b.add_ts_shedding(m, system)]
    b.add_ts_network(m, system, formulation, pcc=pcc, monitored=monitored)
    b.add_flexibility_requirement(m, system)
    return costs


def objective(m: linopy.Model, costs: list) -> None:
    """Sum the blocks' cost expressions into the objective."""
    terms = [c for c in costs if not isinstance(c, int | float)]
    m.add_objective(sum(terms[1:], terms[0]))


def build_centralized(system: System, formulation: str = "angle",
                      monitored: xr.DataArray | None = None) -> linopy.Model:
    """Build the joint TSO–DSO market model.

    Feeder-only systems buy at the PCC at ``pcc_price``; TS-only systems are a DC-OPF
    with reserves. ``monitored``: the lazy formulation's line rows.
    """
    m = new_model()
    costs = add_ds_side(m, system, reserve=system.has_ts)
    if system.has_ts:
        costs += add_ts_side(m, system, formulation=formulation, monitored=monitored)
    elif system.has_ds:
        costs.append((system.ds.pcc_price * m.variables["Pcc-p"]).sum())
    objective(m, costs)
    return m


def solve_centralized(system: System, *, formulation: str = "auto",
                      hook: Callable[[linopy.Model], None] | None = None,
                      **options: Any) -> Result:
    """Solve the centralized scheme and return labeled results.

    ``hook(m)`` may add constraints to the built model before the solve (used by the
    interval algorithm to reserve BESS headroom).
    """
    formulation = resolve_formulation(formulation, system)

    def build(monitored: xr.DataArray | None) -> linopy.Model:
        m = build_centralized(system, formulation, monitored)
        if hook is not None:
            hook(m)
        return m

    m, status, info = solve_with_network(build, system, formulation, scheme="centralized",
                                         options=options)
    res = extract(m, system)
    return finalize(res, system, scheme="centralized", status=status,
                    objective=float(m.objective.value),
                    extra={"formulation": formulation, **info})
