"""Running HiGHS on a linopy model: options, status handling, infeasibility diagnosis.

HiGHS's threads
---------------
HiGHS keeps one task scheduler per calling thread, started by the first ``run()`` in
that thread with the ``threads`` option of the instance that ran. Since highspy 1.15 a
later ``run()`` whose ``threads`` differs fails (``kError``, model status "Not Set"); since
1.16 the default (``threads=0``) starts as many threads as the machine has cores. So the
rule in flexnet is:

* every HiGHS instance flexnet creates gets an explicit ``threads``: the user's
  ``threads`` option, else :data:`DEFAULT_THREADS` (1: flexnet parallelises across
  subproblems — dask workers, hourly blocks — and HiGHS's dual simplex is serial anyway);
* before every ``run()`` (:func:`run_checked`), flexnet compares that value with the size
  of the scheduler it started in the calling thread and, if they differ (or flexnet has not
  started one there yet), resets the thread's scheduler deliberately
  (``Highs.resetThreadScheduler``; ``resetGlobalScheduler`` on 1.15). A run therefore
  never depends on which solve came before it in the process, and other threads'
  schedulers are never touched;
* every option set and every ``run()`` is checked: a refused option or a failed run
  raises :class:`~flexnet.errors.SolverError` naming the option and quoting HiGHS.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import linopy
import numpy as np

from flexnet.errors import InfeasibleError, SolverError, UnboundedError

if TYPE_CHECKING:
    from flexnet.grid.system import System

__all__ = ["DEFAULT_THREADS", "ComponentLP", "HighsLP", "PersistentLP", "SnapshotSplitLP", "apply_options",
           "assign_primal", "checked", "diagnose_infeasibility", "highs_options", "new_highs",
           "new_model", "quiet_stdout", "record_solve", "record_stats", "run_checked",
           "run_highs", "run_warm"]

log = logging.getLogger("flexnet")

_CREATED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_HIGHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_STATS: contextvars.ContextVar[list[dict] | None] = contextvars.ContextVar("flexnet_stats",
                                                                          default=None)


def new_model() -> linopy.Model:
    """A linopy model with labeled dims; its creation time is kept to report build seconds."""
    m = linopy.Model(force_dim_names=True)
    _CREATED[m] = time.perf_counter()
    return m


@contextlib.contextmanager
def record_stats() -> Iterator[list[dict]]:
    """Collect one row per solve made in this context (benchmarks and profiling).

    Each row: ``model`` (the scheme's name for it), ``vars``, ``cons``, ``nonzeros``,
    ``build_s`` (model creation → solver call: linopy), ``handoff_s`` (linopy → highspy
    and the solution back), ``solve_s`` (HiGHS's own run time) and ``status``.

    Examples
    --------
    >>> import flexnet
    >>> with record_stats() as stats:
    ...     _ = flexnet.solve("ieee33", "centralized")
    >>> [row["model"] for row in stats]
    ['centralized']
    """
    token = _STATS.set([])
    try:
        yield _STATS.get()
    finally:
        _STATS.reset(token)


def objective_constant(m: linopy.Model) -> float:
    """The constant of ``m``'s objective, which linopy does not hand to HiGHS."""
    expr = m.objective.expression
    return float(expr.const.sum()) if hasattr(expr, "const") else 0.0


def highs_of(m: linopy.Model) -> Any:
    """The ``highspy.Highs`` object of the last :func:`run_highs` solve of ``m``."""
    return _HIGHS.get(m)


def _record(m: linopy.Model, name: str, h: Any, t_call: float, t_end: float, solve_s: float,
            status: str) -> None:
    record_solve(m, name, int(h.getNumCol()), int(h.getNumRow()), int(h.getNumNz()), t_call,
                 t_end, solve_s, status)


def record_solve(m: linopy.Model, name: str, nvars: int, ncons: int, nonzeros: int,
                 t_call: float, t_end: float, solve_s: float, status: str) -> None:
    """Add a row to an active :func:`record_stats` (for solves not made by :func:`run_highs`)."""
    rows = _STATS.get()
    if rows is None:
        return
    rows.append({"model": name, "vars": nvars, "cons": ncons, "nonzeros": nonzeros,
                 "build_s": t_call - _CREATED.get(m, t_call),
                 "handoff_s": max(t_end - t_call - solve_s, 0.0), "solve_s": solve_s,
                 "status": status})

_QUIET_LOCK = threading.Lock()
_QUIET = {"depth": 0, "saved": -1}


@contextlib.contextmanager
def quiet_stdout(enabled: bool = True) -> Iterator[None]:
    """Point the process's stdout (fd 1) at /dev/null while HiGHS may print from C++.

    HiGHS prints its banner before any option can turn it off: since 1.16 at a process's
    first ``Highs()``, in 1.15 at every model passed while ``output_flag`` is still on
    (linopy's ``to_highspy`` passes it before flexnet's options are set). fd 1 is one per
    process, so nested and concurrent uses share one redirect (counted under a lock): the
    first redirects, the last restores.
    """
    if not enabled:
        yield
        return
    import sys

    with _QUIET_LOCK:
        if _QUIET["depth"] == 0:
            try:
                sys.stdout.flush()
                _QUIET["saved"] = os.dup(1)
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 1)
                os.close(null)
            except OSError:  # no fd 1 (e.g. a service): nothing to silence
                _QUIET["saved"] = -1
        _QUIET["depth"] += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _QUIET["depth"] -= 1
            if _QUIET["depth"] == 0 and _QUIET["saved"] >= 0:
                os.dup2(_QUIET["saved"], 1)
                os.close(_QUIET["saved"])
                _QUIET["saved"] = -1


def _silence_banner() -> None:
    """Spend highspy ≥ 1.16's once-per-process banner on a silent first instance."""
    import highspy

    with quiet_stdout():
        highspy.Highs()


_silence_banner()

#: HiGHS threads when the caller gives no ``threads`` option (module docstring)
DEFAULT_THREADS = 1
_SCHEDULER = threading.local()  # .threads: size of the scheduler flexnet started here


def _highs_messages(key: str, value: Any) -> str:
    """HiGHS's own words on why it refuses ``key = value`` (asked again on a scratch copy,
    with logging on: flexnet's instances run silent)."""
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", True)
    h.setOptionValue("log_to_console", False)
    msgs: list[str] = []
    with contextlib.suppress(AttributeError):  # highspy without callbacks: our words only
        h.cbLogging.subscribe(lambda e: msgs.append(str(e.message).strip()))
    with contextlib.suppress(TypeError):
        h.setOptionValue(key, value)
    text = " ".join(m.removeprefix("ERROR:").strip() for m in msgs)
    return text or f"a value of type {type(value).__name__} is not accepted"


def apply_options(h: Any, options: dict[str, Any], name: str = "") -> None:
    """Set HiGHS options on ``h``, each checked.

    Raises
    ------
    SolverError
        If HiGHS refuses an option (unknown name, wrong type, out of range), naming the
        option and quoting HiGHS's message.
    """
    import highspy

    for key, val in options.items():
        try:
            status = h.setOptionValue(key, val)
        except TypeError:  # pybind11 finds no overload for the value's type
            status = highspy.HighsStatus.kError
        if status != highspy.HighsStatus.kOk:
            raise SolverError(f"HiGHS refused the option {key!r} = {val!r}: "
                              f"{_highs_messages(key, val)}", scheme=name, status="option error",
                              hint="see the option list in highs_options() and HiGHS's docs")


def new_highs(options: dict[str, Any] | None = None, name: str = "") -> Any:
    """A silent ``highspy.Highs`` with ``options`` (HiGHS names) set and checked, and an
    explicit ``threads`` (:data:`DEFAULT_THREADS` unless given)."""
    import highspy

    h = highspy.Highs()
    apply_options(h, {"output_flag": False, "threads": DEFAULT_THREADS} | dict(options or {}),
                  name)
    return h


def checked(status: Any, what: str, name: str = "") -> None:
    """Raise :class:`SolverError` if a highspy call returned ``kError`` (``what``: the call,
    for the message); ``kOk`` and ``kWarning`` pass."""
    import highspy

    if status == highspy.HighsStatus.kError:
        raise SolverError(f"HiGHS refused {what}", scheme=name, status="error",
                          hint="run with verbose=True or log_file=... to see HiGHS's log")


def _ensure_scheduler(want: int) -> None:
    """Size the calling thread's HiGHS scheduler to ``want`` threads (module docstring)."""
    import highspy

    if getattr(_SCHEDULER, "threads", None) != want:
        # 1.16 names the per-thread reset; 1.15's "global" one resets the calling thread's
        # scheduler too (measured: another thread's scheduler keeps its size)
        reset = getattr(highspy.Highs, "resetThreadScheduler", None) or \
            highspy.Highs.resetGlobalScheduler
        reset(True)
        _SCHEDULER.threads = want


def run_checked(h: Any, name: str = "") -> str:
    """``h.run()`` on a scheduler of ``h``'s size; HiGHS's model status as a lowercase string.

    Raises
    ------
    SolverError
        If ``run()`` returns ``kError`` (HiGHS could not start or finish the solve). A
        ``kWarning`` run (e.g. a time limit) returns its status for the caller to judge.
    """
    import highspy

    _ensure_scheduler(int(h.getOptionValue("threads")[1]))
    status = h.run()
    model_status = h.modelStatusToString(h.getModelStatus()).lower()
    # "solve error" and the like are returned: callers retry or report them as a status
    if status == highspy.HighsStatus.kError and model_status in ("not set", "load error",
                                                                 "model error"):
        raise SolverError(f"HiGHS's run() failed: model status {model_status!r}", scheme=name,
                          status=model_status,
                          hint="run with verbose=True or log_file=... to see HiGHS's log")
    return model_status


_OPTION_MAP = {"time_limit": "time_limit", "mip_gap": "mip_rel_gap", "threads": "threads",
               "presolve": "presolve", "solver": "solver", "log_file": "log_file"}


_NOT_HIGHS = {"verbose", "warmstart_fn", "progress", "solver_options", "allow_suboptimal",
              "shedding", "formulation"}


def highs_options(options: dict[str, Any]) -> dict[str, Any]:
    """Translate flexnet solver options to HiGHS options.

    Known keys: ``time_limit`` (s), ``mip_gap`` (relative), ``threads``, ``presolve``
    ("on"/"off"), ``solver`` ("simplex", "ipm", "pdlp"), ``log_file``, ``verbose``, and
    ``solver_options`` (HiGHS's own names). :func:`flexnet.solve` has checked the keys
    (:mod:`flexnet.options`); other keys here are passed to HiGHS, which checks them.
    """
    out: dict[str, Any] = {"output_flag": bool(options.get("verbose", False)) or
                           bool(options.get("log_file"))}
    out["log_to_console"] = bool(options.get("verbose", False))
    out["threads"] = DEFAULT_THREADS  # always explicit: see the module docstring
    for k, v in options.items():
        if k in _NOT_HIGHS or v is None:
            continue
        out[_OPTION_MAP.get(k, k)] = v
    out.update(options.get("solver_options") or {})
    return out


def run_highs(m: linopy.Model, *, scheme: str, system: System | None = None,
              options: dict[str, Any] | None = None) -> str:
    """Solve ``m`` with HiGHS; return the termination condition or raise a clear error.

    Raises
    ------
    InfeasibleError, UnboundedError
        With a hint from :func:`diagnose_infeasibility` when the data can show the cause.
    SolverError
        On a time limit without a solution, or any other solver failure.
    """
    opts = highs_options(options or {})
    log.info("%s: solving %d variables, %d constraints with HiGHS", scheme,
             m.nvars, m.ncons)
    start = (options or {}).get("warmstart_fn")
    t_call = time.perf_counter()
    if len(m.binaries) or len(m.integers):
        cond, h = _solve_mip(m, opts, start)
    else:
        # linopy sets the options without looking at HiGHS's answer: check them first
        new_highs({k: v for k, v in opts.items() if k != "log_file"}, scheme)
        _ensure_scheduler(int(opts["threads"]))
        with quiet_stdout(not opts.get("log_to_console")):
            _, cond = m.solve(solver_name="highs", io_api="direct", progress=False,
                              warmstart_fn=start, **opts)
        h = m.solver_model
    cond = str(cond)
    if h is not None:
        _HIGHS[m] = h
        _record(m, scheme, h, t_call, time.perf_counter(), float(h.getRunTime()), cond)
    if cond == "optimal":
        return cond
    if cond in ("infeasible", "infeasible_or_unbounded"):
        hint = diagnose_infeasibility(system) if system is not None else ""
        raise InfeasibleError("the model is infeasible", scheme=scheme, status=cond,
                              hint=hint or _GENERIC_HINT)
    if cond == "unbounded":
        raise UnboundedError("the model is unbounded", scheme=scheme, status=cond,
                             hint="a cost is negative on a variable without an upper limit; "
                                  "check gen_cost/der_cost signs and custom blocks")
    if cond == "time_limit":
        has_solution = m.objective.value is not None and np.isfinite(m.objective.value or np.nan)
        if not has_solution:
            raise SolverError("the time limit was reached before a solution was found",
                              scheme=scheme, status=cond,
                              hint="raise time_limit, or relax mip_gap")
        return cond
    raise SolverError("the solver stopped without an optimal solution", scheme=scheme,
                      status=cond, hint="run with verbose=True or log_file=... to see HiGHS's log")


_MIP_STATUS = {"optimal": "optimal", "infeasible": "infeasible", "unbounded": "unbounded",
               "primal infeasible or unbounded": "infeasible_or_unbounded",
               "time limit reached": "time_limit", "iteration limit reached": "iteration_limit"}


def _solve_mip(m: linopy.Model, opts: dict[str, Any], start: Any) -> tuple[str, Any]:
    """Solve a MILP on highspy directly and write back the primal solution only.

    linopy's HiGHS path also reads row duals, which a MIP does not have; on some
    time-limited solves HiGHS returns them shorter than the row count and linopy fails
    deep inside with an IndexError (seen on a 30-bus × 5-feeder nested MILP; draft
    upstream report in docs/upstream.md).
    """
    lp = PersistentLP(m, opts, record=False)  # run_highs records this solve itself
    if opts.get("log_file"):
        apply_options(lp.h, {"log_file": str(opts["log_file"])})
    if start:
        checked(lp.h.readSolution(str(start), 0), f"the MIP start {start}", "mip start")
    status = lp.run()
    cond = _MIP_STATUS.get(status, status)
    if lp.h.getInfo().primal_solution_status == 2:  # a feasible point exists
        lp.assign(duals=False, condition=cond)
    return cond, lp.h


_GENERIC_HINT = ("every load can be shed at VOLL, so the cause is a limit that shedding cannot "
                 "relieve: must-run generation (gen_p_min), the flexibility requirement "
                 "(fr_up/fr_down), building comfort bands, EV departure energy, storage end "
                 "states, or voltage limits under reactive load")


def diagnose_infeasibility(system: System) -> str:
    """Vectorized data checks that explain common infeasibilities (empty if none found)."""
    ds = system.ds
    hints: list[str] = []
    snaps = ds.snapshot.values.tolist()
    if system.n("gen"):
        demand = ds.load_p.sum("load") if system.n("load") else 0.0
        if system.n("node"):
            demand = demand + ds.node_p_load.sum("node")
        must = float(ds.gen_p_min.sum())
        over = (must > demand)
        if bool(np.any(over)):
            t = snaps[int(np.argmax(np.asarray(over)))]
            hints.append(f"must-run generation Σ gen_p_min = {must:.1f} MW exceeds total demand "
                         f"at snapshot {t!r}; nothing can absorb the surplus")
        for d, fr in (("up", ds.fr_up), ("down", ds.fr_down)):
            room = (ds.gen_p_max - ds.gen_p_min).clip(min=0)
            gen_cap = float(np.minimum(room, ds.gen_ramp).sum())
            ds_cap = float(ds.dso_s_max.sum()) if system.n("dso") else 0.0
            short = fr > gen_cap + ds_cap
            if bool(short.any()):
                t = snaps[int(np.argmax(short.values))]
                hints.append(f"fr_{d} at snapshot {t!r} is {float(fr.values[snaps.index(t)]):.1f} MW, more "
                             f"than generators ({gen_cap:.1f} MW) and PCCs ({ds_cap:.1f} MW) "
                             "can offer")
    if system.n("fleet"):
        cap = ds.fleet_connected * ds.fleet_p_charger * ds.fleet_eta
        reach = ds.fleet_e_init + (cap + ds.fleet_e_arrive - ds.fleet_e_depart).cumsum("snapshot")
        bad = reach < -1e-9
        if bool(bad.any()):
            i = np.argwhere(bad.transpose("snapshot", "fleet").values)[0]
            hints.append(f"fleet {str(ds.fleet.values[i[1]])!r}: departure energy need at snapshot "
                         f"{snaps[i[0]]!r} exceeds what its chargers can deliver "
                         "(fields 'fleet_e_depart', 'fleet_connected', 'fleet_p_charger')")
    if system.n("building"):
        short = ds.building_shift_energy > ds.building_shift_max * len(snaps) + 1e-9
        if bool(short.any()):
            b = str(ds.building.values[int(np.argmax(short.values))])
            hints.append(f"building {b!r}: 'building_shift_energy' exceeds 'building_shift_max' "
                         f"× {len(snaps)} snapshots")
        a = np.exp(-1.0 / (ds.building_r * ds.building_c)).values
        gain = ((1 - a) * ds.building_eta * ds.building_r * ds.building_hvac_max).values
        hot = ds.building_t_init.values.copy()
        cold = hot.copy()
        t_out = ds.t_out.values
        for t in range(t_out.size):  # a 24-step recursion over all buildings at once
            hot = a * hot + (1 - a) * t_out[t] + gain
            cold = a * cold + (1 - a) * t_out[t]
            low = hot < ds.building_t_min.values - 1e-6
            high = cold > ds.building_t_max.values + 1e-6
            for bad, what in ((low, "cannot be heated up to 'building_t_min'"),
                              (high, "stays above 'building_t_max' even without heating")):
                if bad.any():
                    b = str(ds.building.values[int(np.argmax(bad))])
                    hints.append(f"building {b!r} {what} at snapshot {snaps[t]!r} "
                                 "(fields 'building_hvac_max', 'building_t_init', 't_out')")
                    break
            if low.any() or high.any():
                break
    return "; ".join(hints)


#: HiGHS options for LPs re-solved warm many times (ADMM agents): without cost
#: perturbation dual simplex needs no primal clean-up pass after each re-solve, and
#: without scaling no second pass after unscaling. ADMM iterations took 30 % less time
#: (docs/scaling.md). A failed warm re-solve is retried with HiGHS's defaults for them.
WARM_OPTIONS = {"dual_simplex_cost_perturbation_multiplier": 0.0, "simplex_scale_strategy": 0}
_WARM_DEFAULTS = {"dual_simplex_cost_perturbation_multiplier": 1.0, "simplex_scale_strategy": 2}


def run_warm(h: Any, name: str) -> str:
    """``h.run()`` from its last basis; once more from scratch if HiGHS gives up.

    A warm re-solve can end in status "unknown" after numerical trouble (seen once in
    110 ADMM iterations on the 2,000-bus system). A cold solve — basis dropped, presolve
    on, HiGHS's default scaling and cost perturbation (:data:`WARM_OPTIONS` turns them
    off) — then settles it. Definite answers (optimal, infeasible, unbounded, a limit)
    are returned as they are.
    """
    status = run_checked(h, name)
    if status == "optimal" or any(w in status for w in ("infeasible", "unbounded", "limit")):
        return status
    log.warning("%s: HiGHS ended a warm re-solve with status %r; solving it again from "
                "scratch", name, status)
    apply_options(h, _WARM_DEFAULTS, name)
    checked(h.clearSolver(), "clearSolver", name)
    return run_checked(h, name)


class HighsLP:
    """A highspy model re-solved in place: costs and row bounds changed, rows appended.

    Iterative schemes (ADMM, sweeps over one structure) change costs and bounds between
    solves instead of rebuilding: HiGHS then warm-starts from the last basis, 20–80×
    faster than a linopy rebuild on mid-size models (DESIGN §5). :class:`PersistentLP`
    makes one from a linopy model; a stage-2 batch from the arrays it was sent.

    Parameters
    ----------
    h : highspy.Highs
        The model, already passed to ``h``.
    name : str
        The model's name in messages.
    cost : array
        The columns' costs as built (:meth:`base_objective`).
    const : float
        The objective's constant (:meth:`base_objective`).
    """

    def __init__(self, h: Any, cost: np.ndarray, name: str = "lp", const: float = 0.0) -> None:
        self.h, self.name, self.const = h, name, const
        self.cost = np.asarray(cost, dtype=float).copy()
        self._nrows = int(h.getNumRow())  # its rows: the model's and any from add_rows
        self.stats: dict[str, Any] = {"solve_s": 0.0}

    def set_cost(self, cols: np.ndarray, cost: np.ndarray) -> None:
        """Set the linear cost of some columns."""
        cols = np.asarray(cols, dtype=np.int32)
        checked(self.h.changeColsCost(cols.size, cols, np.asarray(cost, dtype=float)),
                "changeColsCost", self.name)

    def set_rhs(self, rows: np.ndarray, value: np.ndarray) -> None:
        """Make some rows equalities ``row = value``."""
        self.set_bounds(rows, value, value)

    def set_bounds(self, rows: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        """Set some rows' bounds ``lower ≤ row ≤ upper``."""
        rows = np.asarray(rows, dtype=np.int32)
        lo, up = (np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=float), rows.shape))
                  for v in (lower, upper))
        checked(self.h.changeRowsBounds(rows.size, rows, lo, up), "changeRowsBounds", self.name)

    def add_rows(self, A: Any, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        """Append rows ``lower ≤ A x ≤ upper`` (A: scipy sparse, one column per column of
        the LP) that the linopy model does not hold; HiGHS keeps its basis, the new rows'
        slacks basic, so the next :meth:`run` continues warm. Returns their positions."""
        A = A.tocsr()
        first = self._nrows
        checked(self.h.addRows(A.shape[0], np.asarray(lower, dtype=float),
                               np.asarray(upper, dtype=float), A.nnz,
                               A.indptr[:-1].astype(np.int32), A.indices.astype(np.int32),
                               A.data.astype(float)), "addRows", self.name)
        self._nrows += A.shape[0]
        return np.arange(first, self._nrows)

    def run(self) -> str:
        """Solve; return HiGHS's model status as a lowercase string."""
        t0 = time.perf_counter()
        status = run_warm(self.h, self.name)
        self.stats["solve_s"] += time.perf_counter() - t0  # getRunTime() is cumulative
        if "status" in self.stats:
            self.stats["status"] = status
        return status

    def _solution(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Column values, row duals and objective of the last run (its own columns and
        rows, those of :meth:`add_rows` last: a caller may have appended more to ``h``,
        e.g. the one-shot interval LP)."""
        sol = self.h.getSolution()
        return (np.asarray(sol.col_value, dtype=float)[:self.cost.size],
                np.asarray(sol.row_dual, dtype=float)[:self._nrows],
                float(self.h.getInfo().objective_function_value))

    def values(self) -> np.ndarray:
        """Primal values of all columns."""
        return self._solution()[0]

    def duals(self) -> np.ndarray:
        """Row duals of all rows (the model's, then those of :meth:`add_rows`)."""
        return self._solution()[1]

    def base_objective(self, x: np.ndarray | None = None) -> float:
        """The objective of the model as built (without costs changed later)."""
        x = self.values() if x is None else x
        return float(self.cost @ x) + self.const


class PersistentLP(HighsLP):
    """A linopy model held as one highspy model and re-solved in place (:class:`HighsLP`).

    Parameters
    ----------
    m : linopy.Model
        The built model; it is kept to write the final solution back by name.
    options : dict, optional
        Solver options as for :func:`highs_options` (``time_limit``, ``threads``, ...).
    name : str
        The model's name in :func:`record_stats` rows and in messages.
    record : bool, default True
        Add a row to an active :func:`record_stats` (False when the caller records).
    """

    def __init__(self, m: linopy.Model, options: dict[str, Any] | None = None,
                 name: str = "persistent", record: bool = True) -> None:
        import pandas as pd

        self.model = m
        t0 = time.perf_counter()
        verbose = bool((options or {}).get("verbose", False))
        with quiet_stdout(not verbose):  # highspy 1.15 prints its banner at the pass
            h = m.to_highspy()
        apply_options(h, {"output_flag": False} | {
            k: v for k, v in highs_options(options or {}).items() if k != "log_file"}, name)
        M = m.matrices
        super().__init__(h, M.c, name, objective_constant(m))
        self._vlabels = pd.Index(M.vlabels)
        self._clabels = pd.Index(M.clabels)
        #: size and set-up time, in the row format of :func:`record_stats`
        self.stats = {"vars": int(self.h.getNumCol()), "cons": int(self.h.getNumRow()),
                      "nonzeros": int(self.h.getNumNz()),
                      "build_s": t0 - _CREATED.get(m, t0),
                      "handoff_s": time.perf_counter() - t0, "solve_s": 0.0}
        rows = _STATS.get() if record else None
        if rows is not None:  # the same dict: solve_s keeps growing with every run
            self.stats.update(model=name, status="built")
            rows.append(self.stats)

    def cols(self, name: str) -> np.ndarray:
        """Column positions of a variable's entries (in the variable's label order)."""
        return self.positions(self.model.variables[name].labels.values)

    def positions(self, labels: np.ndarray) -> np.ndarray:
        """Column positions of linopy variable labels (any shape, flattened; −1 for −1)."""
        return self._vlabels.get_indexer(np.asarray(labels).ravel())

    def rows(self, name: str) -> np.ndarray:
        """Row positions of a constraint's entries (in the constraint's label order)."""
        return self._clabels.get_indexer(self.model.constraints[name].labels.values.ravel())

    def assign(self, duals: bool = True, condition: str = "optimal",
               variables: Sequence[str] | None = None) -> None:
        """Write primal values (and duals) back onto the linopy model by label.

        ``variables`` limits the write-back to those variables (and skips duals): writing
        every variable back costs more than a warm re-solve on mid-size models.
        """
        import xarray as xr

        m = self.model
        col_value, row_dual, objective = self._solution()
        assign_primal(m, col_value, objective, condition, variables, self._vlabels.values)
        if not duals or variables is not None:
            return
        y = np.full(int(self._clabels.max()) + 1, np.nan)
        y[self._clabels.values] = row_dual[:self._clabels.size]
        for con in m.constraints.data.values():
            lab = con.labels.values
            con.dual = xr.DataArray(np.where(lab >= 0, y[lab], np.nan), con.labels.coords)


def assign_primal(m: linopy.Model, col_value: np.ndarray, objective: float,
                  condition: str = "optimal", variables: Sequence[str] | None = None,
                  vlabels: np.ndarray | None = None) -> None:
    """Write column values (in the order of ``m.matrices``) onto ``m``'s variables by label.

    ``vlabels`` (``m.matrices.vlabels``, if the caller has it) saves recomputing it.
    """
    import xarray as xr

    m.status, m.termination_condition = "ok", condition
    m.objective._value = objective
    vl = np.asarray(m.matrices.vlabels if vlabels is None else vlabels)
    x = np.full(int(vl.max()) + 1, np.nan)
    x[vl] = col_value
    chosen = m.variables.data.values() if variables is None else [
        m.variables[v] for v in variables if v in m.variables]
    for var in chosen:
        lab = var.labels.values
        var.solution = xr.DataArray(np.where(lab >= 0, x[lab], np.nan), var.labels.coords)


def column_blocks(m: linopy.Model, dim: str, vlabels: np.ndarray | None = None,
                  context: str = "", hint: str = "") -> np.ndarray:
    """Each column's position along ``dim`` (its block), in the column order of ``m.matrices``.

    ``vlabels``: ``m.matrices.vlabels`` if the caller has it (each access flattens the
    model again). A variable without ``dim`` raises ``ValueError`` naming it, prefixed by
    ``context`` and followed by ``hint``.
    """
    import xarray as xr

    vl = np.asarray(m.matrices.vlabels if vlabels is None else vlabels)
    block = np.full(int(vl.max()) + 1, -1, dtype=np.int64)
    for name, var in m.variables.items():
        lab = var.labels
        if dim not in lab.dims:
            raise ValueError(f"{context}: variable {name!r} has no {dim!r} dim{hint}")
        pos = xr.DataArray(np.arange(lab.sizes[dim]), dims=dim).broadcast_like(lab)
        ok = lab.values >= 0
        block[lab.values[ok]] = pos.transpose(*lab.dims).values[ok]
    return block[vl]


def row_blocks(A: Any, block: np.ndarray) -> np.ndarray:
    """Each row's block (A in CSR); −1 where a row's columns lie in several blocks
    (coupling rows), −2 for empty rows."""
    cb = block[A.indices]
    nonempty = np.diff(A.indptr) > 0
    lo = np.full(A.shape[0], -2, dtype=np.int64)
    hi = np.full(A.shape[0], -2, dtype=np.int64)
    starts = A.indptr[:-1][nonempty]
    lo[nonempty] = np.minimum.reduceat(cb, starts)
    hi[nonempty] = np.maximum.reduceat(cb, starts)
    return np.where(lo == hi, lo, -1)


def _component_blocks(A: Any, blocks: int) -> np.ndarray:
    """Each column's block: the LP's connected components, packed in column order into
    at most ``blocks`` blocks of about equal column counts.

    Columns and rows are the nodes of a bipartite graph whose edges are A's nonzeros, so
    no row ever spans two components (a separable LP, e.g. independent feeders).
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    nr, nc = A.shape
    coo = A.tocoo()
    g = sp.csr_matrix((np.ones(coo.nnz, dtype=np.int8), (coo.col, nc + coo.row)),
                      shape=(nc + nr, nc + nr))
    _, label = connected_components(g, directed=False)
    comp = label[:nc]
    # components in order of their first column (label order keeps an element's entries
    # together), each going to the block that its middle column's running count falls in
    first = np.full(label.max() + 1, nc)
    np.minimum.at(first, comp, np.arange(nc))
    order = np.argsort(first, kind="stable")
    size = np.bincount(comp, minlength=first.size)[order]
    start = np.cumsum(size) - size  # columns before each component, in that order
    block = np.empty(first.size, dtype=int)
    block[order] = (2 * start + size) * max(blocks, 1) // max(2 * nc, 1)
    # renumber densely: a block may have received no column
    return np.unique(block[comp], return_inverse=True)[1].reshape(-1)


class _BlockLP(PersistentLP):
    """A :class:`PersistentLP` that also holds its columns' blocks as separate highspy LPs.

    ``block`` gives each column's block. Rows within one block go to it; rows spanning
    several (``coupling``) stay in the whole LP only. Change costs and row bounds through
    :meth:`set_cost` and :meth:`set_rhs`: they keep the blocks and the whole LP in step.
    """

    def __init__(self, m: linopy.Model, options: dict[str, Any] | None, name: str,
                 block: Callable[[Any], np.ndarray]) -> None:
        import highspy
        import scipy.sparse as sp

        super().__init__(m, options, name=name)
        t0 = time.perf_counter()
        lp = self.h.getLp()
        if len(lp.integrality_) and np.any(np.asarray(lp.integrality_, dtype=int) != 0):
            raise ValueError(f"{name}: {type(self).__name__} takes LPs only, the model has "
                             "integers")
        nc, nr = int(self.h.getNumCol()), int(self.h.getNumRow())
        mat = lp.a_matrix_
        fmt = sp.csc_matrix if mat.format_ == highspy.MatrixFormat.kColwise else sp.csr_matrix
        A = fmt((mat.value_, mat.index_, mat.start_), shape=(nr, nc)).tocsr()
        self._col_block = col_block = block(A)
        # empty rows go to the first block, which then checks their bounds
        self._row_block = row_block = row_blocks(A, col_block)
        row_block[row_block == -2] = 0
        self._coupling = np.flatnonzero(row_block < 0)
        self._A_coupling = A[self._coupling]
        self._rlo = np.asarray(lp.row_lower_, dtype=float).copy()
        self._rup = np.asarray(lp.row_upper_, dtype=float).copy()
        self._offset = float(lp.offset_)
        self._col_local = np.zeros(nc, dtype=np.int32)
        self._row_local = np.full(nr, -1, dtype=np.int32)
        cost = np.asarray(lp.col_cost_, dtype=float)
        clo, cup = np.asarray(lp.col_lower_, dtype=float), np.asarray(lp.col_upper_, dtype=float)
        opts = {k: v for k, v in highs_options(options or {}).items() if k != "log_file"}
        self._blocks: list[tuple[Any, np.ndarray, np.ndarray]] = []
        for t in range(int(col_block.max()) + 1):
            cols, rows = np.flatnonzero(col_block == t), np.flatnonzero(row_block == t)
            self._col_local[cols] = np.arange(cols.size)
            self._row_local[rows] = np.arange(rows.size)
            sub = A[rows][:, cols].tocsc()
            blk = highspy.HighsLp()
            blk.num_col_, blk.num_row_ = cols.size, rows.size
            blk.col_cost_, blk.col_lower_, blk.col_upper_ = cost[cols], clo[cols], cup[cols]
            blk.row_lower_, blk.row_upper_ = self._rlo[rows], self._rup[rows]
            blk.a_matrix_.format_ = highspy.MatrixFormat.kColwise
            blk.a_matrix_.num_col_, blk.a_matrix_.num_row_ = cols.size, rows.size
            blk.a_matrix_.start_, blk.a_matrix_.index_ = sub.indptr, sub.indices
            blk.a_matrix_.value_ = sub.data
            h = new_highs(opts, name)
            checked(h.passModel(blk), f"the block {t} model", name)
            self._blocks.append((h, cols, rows))
        #: the whole LP is needed only when rows couple the blocks; otherwise drop its copy
        self._whole = self._coupling.size > 0
        if not self._whole:
            checked(self.h.clearModel(), "clearModel", name)
        self._sol: tuple[np.ndarray, np.ndarray, float] | None = None
        self.stats["handoff_s"] += time.perf_counter() - t0
        self.stats["blocks"] = len(self._blocks)

    def _by_block(self, index: np.ndarray, block_of: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """(block, positions into ``index``) for every block that ``index`` touches."""
        blk = block_of[index]
        for t in np.unique(blk[blk >= 0]):
            yield int(t), np.flatnonzero(blk == t)

    def set_cost(self, cols: np.ndarray, cost: np.ndarray) -> None:
        if self._whole:
            super().set_cost(cols, cost)
        cols, cost = np.asarray(cols), np.broadcast_to(np.asarray(cost, dtype=float), np.shape(cols))
        for t, sel in self._by_block(cols, self._col_block):
            local = self._col_local[cols[sel]]
            checked(self._blocks[t][0].changeColsCost(local.size, local,
                                                      np.ascontiguousarray(cost[sel])),
                    "changeColsCost", self.name)

    def set_bounds(self, rows: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        if self._whole:
            super().set_bounds(rows, lower, upper)
        rows = np.asarray(rows)
        lo, up = (np.broadcast_to(np.asarray(v, dtype=float), rows.shape) for v in (lower, upper))
        self._rlo[rows], self._rup[rows] = lo, up
        for t, sel in self._by_block(rows, self._row_block):
            local = self._row_local[rows[sel]]
            checked(self._blocks[t][0].changeRowsBounds(
                local.size, local, np.ascontiguousarray(lo[sel]), np.ascontiguousarray(up[sel])),
                "changeRowsBounds", self.name)

    def add_rows(self, A: Any, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        """Append rows (as :meth:`PersistentLP.add_rows`): to the whole LP when it is kept,
        each to its block when its columns lie in one, else to the coupling rows."""
        import scipy.sparse as sp

        A = A.tocsr()
        lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
        blk = row_blocks(A, self._col_block)
        blk[blk == -2] = 0  # empty rows: the first block checks their bounds
        if np.any(blk < 0) and not self._whole:
            raise ValueError(f"{self.name}: a row across blocks needs the whole LP")
        if self._whole:
            pos = super().add_rows(A, lower, upper)
        else:
            pos = np.arange(self._nrows, self._nrows + A.shape[0])
            self._nrows += A.shape[0]
        self._row_block = np.r_[self._row_block, blk]
        self._row_local = np.r_[self._row_local, np.full(pos.size, -1, dtype=np.int32)]
        self._rlo, self._rup = np.r_[self._rlo, lower], np.r_[self._rup, upper]
        for t, sel in self._by_block(np.arange(pos.size), blk):
            h, cols, rows = self._blocks[t]
            self._row_local[pos[sel]] = rows.size + np.arange(sel.size)
            sub = A[sel].tocsr()
            checked(h.addRows(sel.size, lower[sel], upper[sel], sub.nnz,
                              sub.indptr[:-1].astype(np.int32),
                              self._col_local[sub.indices].astype(np.int32),
                              sub.data.astype(float)), "addRows", self.name)
            self._blocks[t] = (h, cols, np.r_[rows, pos[sel]])
        if np.any(blk < 0):
            self._coupling = np.r_[self._coupling, pos[blk < 0]]
            self._A_coupling = sp.vstack([self._A_coupling, A[blk < 0]]).tocsr()
        return pos

    def _run_blocks(self) -> str:
        """Solve every block warm, in turn; keep their assembled solution if all are optimal."""
        t0 = time.perf_counter()
        x, y = np.empty(self._col_block.size), np.zeros(self._row_block.size)
        obj, status = self._offset, "optimal"
        self._sol = None
        for t, (h, cols, rows) in enumerate(self._blocks):
            status = run_warm(h, f"{self.name} block {t}")
            if status != "optimal":
                break
            sol = h.getSolution()
            x[cols], y[rows] = sol.col_value, sol.row_dual
            obj += h.getInfo().objective_function_value
        else:
            self._sol = (x, y, obj)
        self.stats["solve_s"] += time.perf_counter() - t0
        if "status" in self.stats:
            self.stats["status"] = status
        return status

    def _solution(self) -> tuple[np.ndarray, np.ndarray, float]:
        return self._sol if self._sol is not None else super()._solution()


class ComponentLP(_BlockLP):
    """A :class:`PersistentLP` solved as independent LPs: its connected components.

    Columns linked through shared rows form a component (e.g. one feeder of a DSO
    group); components are packed in label order into at most ``blocks`` LPs of about
    equal size. Components share no row, so the blocks' optima together are the LP's,
    and several small LPs re-solve faster than one of them all.
    """

    def __init__(self, m: linopy.Model, options: dict[str, Any] | None = None,
                 name: str = "components", blocks: int = 1) -> None:
        super().__init__(m, options, name, lambda A: _component_blocks(A, blocks))

    def run(self) -> str:
        return self._run_blocks()


class SnapshotSplitLP(_BlockLP):
    """A :class:`PersistentLP` solved one snapshot at a time while no time-coupling row binds.

    Rows whose columns lie in more than one snapshot (ramps, storage balances) are the
    coupling rows. :meth:`run` solves one LP per snapshot without them, each warm from its
    last basis, and checks the coupling rows at the assembled point. If they hold, the
    point is optimal for the whole LP (optimal for a relaxation and feasible; the blocks'
    duals with zero duals on the coupling rows satisfy its KKT conditions). Otherwise the
    whole LP is solved warm. Why: simplex time grows much faster than the model, so
    hourly LPs are far cheaper than the day's (benchmarks/README.md, docs/scaling.md).

    Where the whole LP starts from is the one policy choice, and the measurements split
    by size. LPs up to ``own_start_max_rows`` rows re-solve the whole LP warm from its own
    last optimum while coupling rows keep binding — an iterative caller changes it little
    — and try the blocks again every ``retry_split`` runs, or at once for ``retry_split``
    runs after an own start above ``own_start_max_iterations`` × rows simplex iterations
    (a changed ρ moves the optimum far). Larger LPs start the whole LP from the blocks'
    bases with the coupling slacks basic, at every run, with dual edge weights
    ``start_edge_weights`` (Devex: exact weights for an assembled basis cost more than
    the repair). The switches count iterations, not seconds, so runs are reproducible.

    Parameters
    ----------
    m : linopy.Model
        An LP whose variables all carry a ``snapshot`` dim.
    options : dict, optional
        Solver options, as for :class:`PersistentLP`; every block gets them.
    tol : float, default 1e-6
        Feasibility tolerance on the coupling rows, relative to max(1, |bound|).
    own_start_max_rows, retry_split, own_start_max_iterations
        The start policy above (the own start measured faster on TSOs of 135k, 203k and
        260k rows, far slower on one of 390k; benchmarks/README.md).
    start_edge_weights : int or None, default 1 (Devex)
        HiGHS's ``simplex_dual_edge_weight_strategy`` for a start from the blocks' bases,
        for that run only; a value given in ``options`` wins.
    """

    def __init__(self, m: linopy.Model, options: dict[str, Any] | None = None,
                 name: str = "persistent", tol: float = 1e-6, *,
                 own_start_max_rows: int = 300_000, retry_split: int = 10,
                 own_start_max_iterations: float = 0.02,
                 start_edge_weights: int | None = 1) -> None:
        def by_snapshot(A: Any) -> np.ndarray:
            return column_blocks(m, "snapshot", self._vlabels.values, context=name,
                                 hint=", so the LP cannot be split by snapshot; use "
                                      "PersistentLP")

        super().__init__(m, options, name, by_snapshot)
        self.tol = tol
        self.own_start = self._row_block.size <= own_start_max_rows
        self.retry_split = retry_split
        self.own_start_max_iterations = own_start_max_iterations * self._row_block.size
        # options given by the caller win over this run-only setting
        self.start_edge_weights = (None if "simplex_dual_edge_weight_strategy"
                                   in highs_options(options or {}) else start_edge_weights)
        self.split_runs = self.whole_runs = 0
        self._streak = 0  # whole runs in a row
        self._blocks_left = 0  # runs still to take the blocks' way after a costly own start

    def run(self) -> str:
        """Solve block by block; the whole LP when a coupling row is violated (class doc)."""
        own = self.own_start and self.whole_runs > 0 and not self._blocks_left
        self._blocks_left = max(self._blocks_left - 1, 0)
        if own and self._streak % self.retry_split:
            return self._run_whole(own=True)
        status = self._run_blocks()
        if status != "optimal":
            # a relaxation is infeasible, so is the whole LP; other trouble: the whole LP
            return status if "infeasible" in status or not self._whole else \
                self._run_whole(own=own)
        x = self._sol[0]
        r = self._A_coupling @ x
        lo, up = self._rlo[self._coupling], self._rup[self._coupling]
        scale = np.maximum(1.0, np.abs(np.where(np.isfinite(lo), lo,
                                                np.where(np.isfinite(up), up, 0.0))))
        if np.all((r >= lo - self.tol * scale) & (r <= up + self.tol * scale)):
            self.split_runs += 1
            self._streak = 0
            return status
        if own:
            return self._run_whole(own=True)
        self._set_blocks_basis()
        return self._run_whole(own=False, edge=self.start_edge_weights)

    def _set_blocks_basis(self) -> None:
        """The blocks' bases as the whole LP's start, the coupling rows' slacks basic."""
        import highspy

        basis = self.h.getBasis()
        col = np.empty(self._col_block.size, dtype=object)
        row = np.full(self._row_block.size, highspy.HighsBasisStatus.kBasic, dtype=object)
        for h, cols, rows in self._blocks:
            b = h.getBasis()
            col[cols], row[rows] = b.col_status, b.row_status
        basis.col_status, basis.row_status = col.tolist(), row.tolist()
        basis.valid, basis.alien = True, False
        checked(self.h.setBasis(basis), "the blocks' basis", self.name)

    def _run_whole(self, own: bool, edge: int | None = None) -> str:
        """The whole LP from the basis it holds; ``edge``: dual edge weights for this run."""
        self._sol = None
        self.whole_runs += 1
        self._streak += 1
        key = "simplex_dual_edge_weight_strategy"
        before = self.h.getOptionValue(key)[1]
        if edge is not None:
            apply_options(self.h, {key: edge}, self.name)
        try:
            status = PersistentLP.run(self)
        finally:
            if edge is not None:
                apply_options(self.h, {key: before}, self.name)
        if own and self.h.getInfo().simplex_iteration_count > self.own_start_max_iterations:
            self._blocks_left = self.retry_split
        return status
