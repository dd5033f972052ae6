"""Transmission DC network: nodal balance with bus-angle or PTDF flows."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import xarray as xr

from flexnet.blocks.common import (
    TS_INJECTIONS,
    aggregate_vars,
    coords,
    identity,
    take,
    term_columns,
)
from flexnet.grid.topology import dc_network, incidence

if TYPE_CHECKING:
    from collections.abc import Callable

    import linopy

    from flexnet.grid.system import System
    from flexnet.solver import HighsLP

__all__ = ["InjectionFlows", "LazyLineRows", "add_ts_network", "incidence", "line_flows_ptdf",
           "monitor", "net_injection", "ptdf", "ptdf_lmp", "ptdf_prices", "ts_demand"]


def _reference_buses(system: System) -> np.ndarray:
    """Position of the reference bus (the first); raise if the grid has islands."""
    dc_network(system)
    return np.array([0])


def ptdf(system: System) -> xr.DataArray:
    """Power transfer distribution factors (line × bus), slack at the first bus, MW/MW.

    Dense: for small systems and tests; models use :meth:`DCNetwork.ptdf_rows`."""
    return dc_network(system).ptdf()


def ts_demand(system: System, load: xr.DataArray | None = None,
              pcc: xr.DataArray | None = None) -> xr.DataArray:
    """Fixed demand per bus (snapshot, bus): TS loads plus fixed PCC draws (if given)."""
    ds = system.ds
    load = ds.load_p if load is None else load
    buses = ds.indexes["bus"]
    d = xr.DataArray(np.zeros((ds.sizes["snapshot"], buses.size)),
                     coords=[ds.indexes["snapshot"], buses])
    if system.n("load"):
        d = d + load.groupby(ds.load_bus.rename("bus")).sum().reindex(bus=buses, fill_value=0.0)
    if pcc is not None and system.n("dso"):
        d = d + pcc.groupby(ds.dso_bus.rename("bus")).sum().reindex(bus=buses, fill_value=0.0)
    return d.transpose("snapshot", "bus")


def _injection_terms(m: linopy.Model, system: System) -> list:
    ds = system.ds
    terms = [(m.variables[name], ds[field], sign)
             for name, field, sign in TS_INJECTIONS if name in m.variables]
    if "Bus-spill" in m.variables:  # shedding.add_ts_spill
        terms.append((m.variables["Bus-spill"], identity(ds.indexes["bus"], "bus"), -1.0))
    return terms


def _injection(m: linopy.Model, system: System) -> linopy.LinearExpression:
    return aggregate_vars(_injection_terms(m, system), "bus", system.ds.indexes["bus"])


def add_ts_network(
    m: linopy.Model,
    system: System,
    formulation: str = "angle",
    *,
    load: xr.DataArray | None = None,
    pcc: xr.DataArray | None = None,
    monitored: xr.DataArray | None = None,
) -> int:
    """Add the DC network: nodal balance and line limits.

    Parameters
    ----------
    formulation : {"angle", "ptdf"}
        ``angle``: ``Bus-theta``, ``Line-flow`` bounded by ±F̄ (its reduced cost is the
        line's congestion price), ``Line-flow-def`` (f = base/x · (θ_from − θ_to)),
        ``Bus-balance`` per bus (dual = LMP), reference angle ``Bus-theta-ref``.
        ``ptdf``: ``System-balance`` per snapshot and flows as PTDF · injections; the
        LMP is recovered as λ + Σ_l PTDF_lb (μ↑_l + μ↓_l). PTDF rows come from the sparse
        factorization (:mod:`flexnet.grid.topology`), never a dense line × bus matrix
        in the model's arrays beyond the rows used.
        ``lazy``: ``ptdf`` with line rows only where ``monitored`` is True (constraint
        generation: :func:`flexnet.coordination.centralized.lazy_rounds` adds the violated
        ones and re-solves).
    load : DataArray, optional
        TS demand (snapshot, load) overriding the forecast.
    pcc : DataArray, optional
        Fixed PCC draws (snapshot, dso) when the DSOs are not in the model.
    monitored : DataArray of bool (snapshot, line), optional
        ``lazy`` only: the (hour, line) pairs whose limits are rows.

    ``ptdf`` and ``lazy`` add ``Line-flow-upper`` (f ≤ F̄) and ``Line-flow-lower``
    (f ≥ −F̄) rows. ``angle`` has bounds instead: two singleton rows per line and hour
    would be a third of a large TS's rows and slow its warm re-solves (hierarchical TSO,
    interval stage 2; benchmarks/README.md). Injections are collected from the variables
    in :data:`TS_INJECTIONS`.
    """
    if not system.has_ts:
        return 0
    ds = system.ds
    demand = ts_demand(system, load, pcc)
    if formulation == "angle":
        _reference_buses(system)
        theta = m.add_variables(coords=coords(system, "snapshot", "bus"), name="Bus-theta")
        flow = m.add_variables(lower=-ds.line_s_max, upper=ds.line_s_max,
                               coords=coords(system, "snapshot", "line"), name="Line-flow")
        buses = ds.indexes["bus"]
        lines = ds.indexes["line"]
        b = float(ds.attrs["base_mva"]) / ds.line_x
        dtheta = (take(theta, "bus", ds.line_bus0.values, "line", lines)
                  - take(theta, "bus", ds.line_bus1.values, "line", lines))
        shift = b * np.deg2rad(ds.line_shift) if "line_shift" in ds else 0.0
        m.add_constraints(flow - b * dtheta == -shift, name="Line-flow-def")
        balance = aggregate_vars([*_injection_terms(m, system), (flow, ds.line_bus0, -1.0),
                                  (flow, ds.line_bus1, 1.0)], "bus", buses)
        m.add_constraints(balance == demand, name="Bus-balance")
        is_ref = xr.DataArray(np.arange(buses.size) == 0, coords=[buses])
        m.add_constraints(theta == 0, name="Bus-theta-ref", mask=is_ref)
    elif formulation in ("ptdf", "lazy"):
        inj = _injection(m, system)
        m.add_constraints(inj.sum("bus") == demand.sum("bus"), name="System-balance")
        if formulation == "ptdf":
            monitored = xr.DataArray(True, coords=[ds.indexes["snapshot"], ds.indexes["line"]])
        elif monitored is None:
            raise ValueError("formulation 'lazy' needs 'monitored' (solve it with "
                             "flexnet.coordination.centralized.solve_lazy)")
        mon = monitored.transpose("snapshot", "line").reindex(line=ds.indexes["line"],
                                                             fill_value=False)
        lines = np.flatnonzero(mon.values.any(axis=0))
        if not lines.size:
            return 0
        flow = _ptdf_flows(m, system, lines, demand)
        s_max = ds.line_s_max.isel(line=lines)
        mask = mon.isel(line=lines)
        m.add_constraints(flow <= s_max, name="Line-flow-upper", mask=mask)
        m.add_constraints(flow >= -s_max, name="Line-flow-lower", mask=mask)
    else:
        raise ValueError(f"unknown TS formulation {formulation!r}; use 'angle' or 'ptdf'")
    return 0


def _ptdf_flows(m: linopy.Model, system: System, lines: np.ndarray,
                demand: xr.DataArray) -> linopy.LinearExpression:
    """Flows (snapshot, line) of the lines at positions ``lines`` as PTDF · (injection −
    demand), built straight from the injection variables (no per-bus expression)."""
    from linopy.expressions import LinearExpression

    ds = system.ds
    L, P, C = term_columns(_injection_terms(m, system), ds.indexes["bus"])
    coef, const = _ptdf_terms(system, lines, P, C, demand.transpose("snapshot", "bus").values)
    vars3 = np.where((coef[None] != 0) & (L[:, None, :] >= 0), L[:, None, :], -1)
    coef3 = np.where(vars3 >= 0, coef[None], 0.0)
    sub = ds.indexes["line"][lines]
    snaps = ds.indexes["snapshot"]
    data = xr.Dataset({"vars": (("snapshot", "line", "_term"), vars3),
                       "coeffs": (("snapshot", "line", "_term"), coef3),
                       "const": (("snapshot", "line"), const)},
                      coords={"snapshot": snaps, "line": sub})
    return LinearExpression(data, m)


def _ptdf_terms(system: System, lines: np.ndarray, P: np.ndarray, C: np.ndarray,
                demand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flows of the lines at positions ``lines`` as coef · terms + const: ``coef`` (line ×
    term) for injection terms at bus positions ``P`` with signs ``C``, and ``const``
    (snapshot × line) from the demand (snapshot × bus) and the phase shifts."""
    dc = dc_network(system)
    H = dc.ptdf_rows(lines)  # line × bus
    const = -(demand @ H.T) + (H @ dc.shift_injection - dc.shift_flow[lines])[None, :]
    return H[:, P] * C[None, :], const


def monitor(system: System, lines: np.ndarray) -> xr.DataArray:
    """The ``lazy`` formulation's ``monitored`` mask (snapshot, line): the lines at
    positions ``lines`` in every hour."""
    ds = system.ds
    on = np.zeros((ds.sizes["snapshot"], ds.sizes["line"]), dtype=bool)
    on[:, np.asarray(lines, dtype=int)] = True
    return xr.DataArray(on, coords=[ds.indexes["snapshot"], ds.indexes["line"]])


class InjectionFlows:
    """Every line's flow at an LP's column values, from where its injection columns sit.

    Arrays only, so it pickles: a stage-2 batch checks its scenarios' flows on a worker.

    Parameters
    ----------
    model : linopy.Model
        The model whose variables of :data:`TS_INJECTIONS` inject at the buses.
    positions : callable
        Column positions of linopy labels in the solver's order
        (:meth:`flexnet.solver.PersistentLP.positions`).
    system : System
    """

    def __init__(self, model: linopy.Model, positions: Callable[[np.ndarray], np.ndarray],
                 system: System) -> None:
        ds = system.ds
        L, self.P, self.C = term_columns(_injection_terms(model, system), ds.indexes["bus"])
        self.cols = positions(L).reshape(L.shape)  # snapshot × term
        self._term_bus = sp.csr_matrix((self.C, (np.arange(self.P.size), self.P)),
                                       shape=(self.P.size, ds.sizes["bus"]))

    def flows(self, system: System, x: np.ndarray, demand: xr.DataArray) -> xr.DataArray:
        """Flows (snapshot, line) at column values ``x`` and fixed ``demand`` (snapshot,
        bus; :func:`ts_demand`)."""
        v = np.where(self.cols >= 0, x[np.maximum(self.cols, 0)], 0.0)
        inj = (self._term_bus.T @ v.T).T - demand.values
        return line_flows_ptdf(system, demand.copy(data=inj))

    def overloaded(self, system: System, x: np.ndarray, demand: xr.DataArray, tol: float,
                   monitored: np.ndarray) -> np.ndarray:
        """Positions of lines outside ``monitored`` with |f| > F̄ (1 + ``tol``) in some
        hour."""
        f = abs(self.flows(system, x, demand))
        over = (f > system.ds.line_s_max * (1 + tol)).values.any(axis=0)
        over[np.asarray(monitored, dtype=int)] = False
        return np.flatnonzero(over)


class LazyLineRows:
    """Lazy line limits of a re-solved PTDF model, added to its HiGHS model in place.

    For a :class:`~flexnet.solver.PersistentLP` built with the ``lazy`` formulation and
    no monitored line (a copper plate with ``System-balance``): :meth:`run` solves,
    computes every line's flow from the solved injections, appends the violated lines'
    limits, in every hour, as ranged rows −F̄ ≤ PTDF_l · (injection − demand) ≤ F̄
    (:meth:`add`), and re-solves warm until no line is violated
    (:func:`flexnet.coordination.centralized.lazy_rounds` does the same by rebuilding).
    Each such solve is the full model's optimum: a relaxation's optimum that is feasible.
    Rows are kept for later solves (an iterative caller changes costs and bounds; the
    binding lines change little), so later solves need few or no rounds.

    Parameters
    ----------
    lp : HighsLP
        The model: a :class:`~flexnet.solver.PersistentLP` whose ``model`` holds the
        injection variables of :data:`TS_INJECTIONS`, or any
        :class:`~flexnet.solver.HighsLP` with ``inj`` given.
    system : System
    lines : array of int, optional
        Line positions to monitor from the start (e.g. a copy's, rebuilt cold).
    inj : InjectionFlows, optional
        Where the injection columns are (default: from ``lp.model``).
    demand : DataArray, optional
        The fixed demand (snapshot, bus) (default: the forecast, :func:`ts_demand`);
        :meth:`set_demand` changes it.
    known : array of int, optional
        Lines whose limits the model already holds as rows: never added, never checked.
    """

    def __init__(self, lp: HighsLP, system: System, lines: np.ndarray | None = None, *,
                 inj: InjectionFlows | None = None, demand: xr.DataArray | None = None,
                 known: np.ndarray | None = None) -> None:
        self.inj = InjectionFlows(lp.model, lp.positions, system) if inj is None else inj
        self._demand = ts_demand(system) if demand is None else demand
        self.known = np.zeros(0, dtype=int) if known is None else np.asarray(known, dtype=int)
        self.system, self.lp = system, lp
        #: monitored line positions, and the LP row of each (snapshot, monitored line)
        self.lines = np.zeros(0, dtype=int)
        self.rows = np.zeros((system.ds.sizes["snapshot"], 0), dtype=int)
        #: solves that added rows, over all :meth:`run` calls
        self.rounds = 0
        if lines is not None and len(lines):
            self.add(np.asarray(lines, dtype=int))

    def violated(self, x: np.ndarray, tol: float) -> np.ndarray:
        """Positions of unmonitored lines with |f| > F̄ (1 + ``tol``) in some hour."""
        return self.inj.overloaded(self.system, x, self._demand, tol,
                                   np.r_[self.known, self.lines])

    def add(self, lines: np.ndarray) -> None:
        """Monitor ``lines`` (positions) in every hour: one ranged row per (hour, line)."""
        lines = np.asarray(lines, dtype=int)
        cols = self.inj.cols
        coef, const = _ptdf_terms(self.system, lines, self.inj.P, self.inj.C,
                                  self._demand.values)
        n_t, n_l = const.shape
        cols3 = np.broadcast_to(cols[:, None, :], (n_t, n_l, cols.shape[1]))
        coef3 = np.broadcast_to(coef[None], cols3.shape)
        ok = (cols3 >= 0) & (coef3 != 0)
        t, li, _ = np.nonzero(ok)
        A = sp.csr_matrix((coef3[ok], (t * n_l + li, cols3[ok])),
                          shape=(n_t * n_l, self.lp.cost.size))
        lo, up = self._bounds(lines, const)
        pos = self.lp.add_rows(A, lo, up)
        self.lines = np.r_[self.lines, lines]
        self.rows = np.c_[self.rows, pos.reshape(n_t, n_l)]

    def _bounds(self, lines: np.ndarray, const: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row bounds ±F̄ − const (flattened hour by hour) of ``lines``' rows."""
        s_max = self.system.ds.line_s_max.values[lines][None, :]
        return (-s_max - const).ravel(), (s_max - const).ravel()

    def set_demand(self, demand: xr.DataArray) -> None:
        """Another fixed demand (snapshot, bus), e.g. a scenario's: the added rows' bounds
        move with it (their matrix does not)."""
        self._demand = demand
        if self.lines.size:
            _, const = _ptdf_terms(self.system, self.lines, self.inj.P, self.inj.C,
                                   demand.values)
            self.lp.set_bounds(self.rows.ravel(), *self._bounds(self.lines, const))

    def run(self, scheme: str) -> str:
        """Solve; while lines are violated, add their rows and re-solve warm. Returns
        the status of the last solve.

        Raises
        ------
        SolverError
            If lines are still violated after ``LAZY_MAX_ROUNDS`` solves.
        """
        from flexnet.coordination.centralized import LAZY_MAX_ROUNDS, LAZY_TOL
        from flexnet.errors import SolverError

        for _ in range(LAZY_MAX_ROUNDS):
            status = self.lp.run()
            new = self.violated(self.lp.values(), LAZY_TOL) if status == "optimal" else []
            if not len(new):
                return status
            self.add(new)
            self.rounds += 1
        raise SolverError(f"{scheme}: lines still overloaded after {LAZY_MAX_ROUNDS} rounds "
                          "of added line rows", scheme=scheme, status="iteration_limit",
                          hint="use formulation='angle'")

    def lmp(self) -> xr.DataArray:
        """LMPs (snapshot, bus) of the last solve (:func:`ptdf_prices` with the
        monitored lines' duals): the added rows' duals are not on the linopy model."""
        ds = self.system.ds
        y = self.lp.duals()
        lam = xr.DataArray(y[self.lp.rows("System-balance")],
                           coords=[ds.indexes["snapshot"]])
        mu = np.zeros((ds.sizes["snapshot"], ds.sizes["line"]))
        mu[:, self.lines] = y[self.rows]
        return ptdf_prices(self.system, lam, xr.DataArray(
            mu, coords=[ds.indexes["snapshot"], ds.indexes["line"]]))


def ptdf_lmp(m: linopy.Model, system: System) -> xr.DataArray:
    """Recover LMPs (snapshot, bus) from the duals of a PTDF model: λ + PTDFᵀ(μ↑ + μ↓)
    (unmonitored lines of a lazy model have no row and μ = 0)."""
    c = m.constraints
    mu = (c["Line-flow-upper"].dual + c["Line-flow-lower"].dual
          if "Line-flow-upper" in c else None)
    return ptdf_prices(system, c["System-balance"].dual, mu)


def ptdf_prices(system: System, lam: xr.DataArray, mu: xr.DataArray | None) -> xr.DataArray:
    """LMPs (snapshot, bus) = λ + PTDFᵀ μ from the system-balance dual λ (snapshot) and the
    line duals μ = μ↑ + μ↓ (snapshot, line; lines without a row, or None: μ = 0), by
    sparse solves."""
    if mu is None:
        return (lam + xr.zeros_like(ts_demand(system))).transpose("snapshot", "bus")
    return (lam + dc_network(system).ptdf_t(mu.fillna(0.0))).transpose("snapshot", "bus")


def net_injection(m: linopy.Model, system: System, *, load: xr.DataArray | None = None,
                  pcc: xr.DataArray | None = None) -> xr.DataArray:
    """Solved net injection per bus (snapshot, bus) in MW: the injection variables of
    :data:`TS_INJECTIONS` (and any spill) minus the fixed demand."""
    buses = system.ds.indexes["bus"]
    demand = ts_demand(system, load, pcc)
    total = np.zeros(demand.shape)
    for var, owner, sign in _injection_terms(m, system):
        el = owner.dims[0]
        pos = buses.get_indexer(np.asarray(owner.values))
        ok = pos >= 0
        S = sp.csr_matrix((np.full(ok.sum(), sign), (np.flatnonzero(ok), pos[ok])),
                          shape=(pos.size, buses.size))
        total += S.T.dot(np.nan_to_num(var.solution.transpose("snapshot", el).values).T).T
    return demand.copy(data=total) - demand


def line_flows_ptdf(system: System, injection: xr.DataArray) -> xr.DataArray:
    """Flows (snapshot, line) for a net injection per bus (snapshot, bus), by sparse solves."""
    return dc_network(system).flows(injection)

