"""Nested scheme (Mansouri et al. 2023, reconstructed): DSO upper level, TSO lower level.

- **Upper level (DSOs).** Day-ahead planning of every feeder: LinDistFlow, smart
  buildings scheduled against the DRP reward, EV fleets, BESS, DER, and the PCC exchange
  of energy P_pcc and flexibility R↑/R↓. The DSOs pay the TSO's LMP for energy and are
  paid the flexibility price for R: cost = DS costs + Σ λ·P_pcc − Σ π·R.
- **Lower level (TSO).** The day-ahead energy + flexibility market (DC network, PTDF
  form), with P_pcc and R as parameters.
- **Single level.** The TSO LP is replaced by its KKT conditions with Big-M
  complementarity (:mod:`flexnet.bilevel`), and the bilinear λ·P_pcc − π·R by the
  strong-duality identity Σ μ_i b_i x = μᵀr − cᵀy. The result is a MILP.
- **Solving it.** By default hour by hour (``method="blocks"``,
  :mod:`flexnet.bilevel.decompose`, flexnet's own method): Lagrangian bounds from one
  small MILP per hour and plans from a master over the hours' KKT patterns. When a TSO
  row couples hours (ramps), or with ``method="milp"``, HiGHS solves the whole MILP.
- **Verification.** The TSO LP is re-solved alone at the DSOs' decision; the objective
  and the LMPs at the PCC buses must agree, and no Big-M may bind. If one binds, the dual
  bounds are enlarged ×10 and the MILP is solved again (at most twice).
"""

from __future__ import annotations

import logging
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import linopy
import numpy as np
import xarray as xr

from flexnet.bilevel import (
    add_kkt,
    bilinear_value,
    binding_bigms,
    declare_lower_level,
    directional_range,
    lower_level_lp,
    marginal_values,
    verify,
)
from flexnet.bilevel.decompose import (
    BlockResult,
    Milp,
    blocks_of,
    coupling_rows,
    milp_data,
    solve_by_blocks,
)
from flexnet.bilevel.engine import label_vector
from flexnet.blocks.network_ts import ptdf_prices
from flexnet.coordination.centralized import (
    LAZY_FROM_LINES,
    add_ds_side,
    add_ts_side,
    lazy_rounds,
    objective,
)
from flexnet.errors import DataError
from flexnet.results import extract, finalize
from flexnet.solver import (
    assign_primal,
    highs_of,
    new_model,
    objective_constant,
    quiet_stdout,
    record_solve,
    run_highs,
)

if TYPE_CHECKING:
    from flexnet.grid.system import System
    from flexnet.results import Result

log = logging.getLogger("flexnet")

#: HiGHS time limit (s) when the caller gives none: large nested MILPs may not close
DEFAULT_TIME_LIMIT = 600
#: HiGHS's ``mip_feasibility_tolerance`` for the single-level MILPs (default 1e-6). A Big-M
#: complementarity row holds only up to tolerance × M, and M is of the order of VOLL: at
#: 1e-6, highspy 1.16 returned plans whose KKT prices were off by 9e-4 $/MWh and whose
#: objective was 0.04 % below the true bilevel optimum (the 6-hour ramp test); at 1e-9
#: both are exact, as on 1.15. Pass ``solver_options={"mip_feasibility_tolerance": ...}``
#: to override.
MIP_FEASIBILITY_TOLERANCE = 1e-9

#: TSO variables that form the lower level (those present in the model are used)
LL_VARIABLES = ["Gen-p", "Gen-r-up", "Gen-r-down", "Wind-p", "Load-shed"]


def dual_bounds(system: System, scale: float = 1.0) -> dict[str, float]:
    """Data-derived bounds on the TSO's duals (the dual-side Big-Ms).

    Prices are capped by shedding at VOLL, so an LMP-like dual lies within
    B = VOLL + max gen cost. Generator, wind, shedding and balance rows use B; reserve
    requirements 2B; line limits 10B (a line price is an LMP difference divided by a
    PTDF). Bounds are checked after the solve (:func:`flexnet.bilevel.binding_bigms`).
    """
    ds = system.ds
    base = scale * (float(ds.attrs["voll"]) + float(ds.gen_cost.max()))
    out = {"System-balance": base, "Reserve-up-requirement": 2 * base,
           "Reserve-down-requirement": 2 * base, "Line-flow-upper": 10 * base,
           "Line-flow-lower": 10 * base}
    return {"default": 2 * base, **out}


def primal_bounds(system: System) -> dict[str, xr.DataArray | float]:
    """Slack Big-Ms for TSO rows that hold unbounded variables (P̄ − P̲, ramp and 2F̄ bounds).

    Each is implied by the TSO's own constraints, so none can cut off the lower-level
    optimum: P̲ ≤ p − r↓ ≤ p ≤ p + r↑ ≤ P̄ bounds both generator slacks by P̄ − P̲ and a ramp
    slack by ramp + P̄ − P̲, and r↑, r↓ ≤ P̄ − P̲ bound the reserves; |f| ≤ F̄ so
    F̄ − f ≤ 2F̄; wind ≤ available; shed ≤ demand.
    Rows whose variables are all bounded get theirs derived by the engine.
    """
    ds = system.ds
    pmax = ds.gen_p_max
    span = pmax - ds.gen_p_min
    reserve = float(np.minimum(ds.gen_ramp, pmax).sum()) + 2 * float(ds.dso_s_max.sum())
    return {"Gen-p-lower": span, "Gen-p-upper": span,
            "Gen-ramp-up": span + ds.gen_ramp, "Gen-ramp-down": span + ds.gen_ramp,
            "Gen-p-bound-lower": pmax,
            # r↑ ≤ P̄ − p ≤ P̄ − P̲ and r↓ ≤ p − P̲ (the ramp bound is not built when larger)
            "Gen-r-up-bound-lower": np.minimum(ds.gen_ramp, span),
            "Gen-r-down-bound-lower": np.minimum(ds.gen_ramp, span),
            "Wind-p-bound-lower": ds.wind_p if system.n("wind") else 0.0,
            "Load-shed-bound-lower": ds.load_p,
            "Line-flow-upper": 2 * ds.line_s_max, "Line-flow-lower": 2 * ds.line_s_max,
            "Reserve-up-requirement": reserve + float(ds.fr_up.max()),
            "Reserve-down-requirement": reserve + float(ds.fr_down.max())}


def _free_gen_p(m: linopy.Model) -> None:
    if "Gen-p" in m.variables:
        m.variables["Gen-p"].update(lower=xr.full_like(m.variables["Gen-p"].lower, -np.inf))


def build_nested(system: System, scale: float = 1.0, monitored: xr.DataArray | None = None,
                 prepare: Callable[[linopy.Model, list[str]], None] | None = None):
    """Build the single-level MILP; return (model, lower level, DS cost terms).

    ``monitored`` (snapshot, line): only those line limits are lower-level rows (the
    lazy formulation: fewer KKT rows and binaries); None: every line's. ``prepare(model,
    lower-level rows)`` changes the model before the KKT system is derived from it."""
    if not (system.has_ts and system.has_ds):
        raise DataError(f"nested scheme needs a transmission system with DSOs; case "
                        f"{system.name!r} has {system.n('bus')} buses and {system.n('dso')} DSOs")
    m = new_model()
    ds_costs = add_ds_side(m, system, reserve=True)
    before = set(m.constraints)
    ts_costs = add_ts_side(m, system, formulation="ptdf" if monitored is None else "lazy",
                           monitored=monitored)
    ll_cons = [c for c in m.constraints if c not in before]
    if prepare is not None:
        prepare(m, ll_cons)
    ll_vars = [v for v in LL_VARIABLES if v in m.variables]
    terms = [c for c in ts_costs if not isinstance(c, int | float)]
    # Gen-p ≥ 0 is implied by p − r↓ ≥ P̲ ≥ 0 and r↓ ≥ 0: dropped, not lifted (fewer
    # binaries, and no bound multiplier that the KKT system would have to carry)
    _free_gen_p(m)
    ll = declare_lower_level(m, ll_cons, ll_vars, sum(terms[1:], terms[0]),
                             lift_bounds=[v for v in ll_vars if v != "Gen-p"])
    bounds = dual_bounds(system, scale)
    default = bounds.pop("default")
    add_kkt(ll, dual_bounds=bounds, default_dual_bound=default,
            primal_bounds=primal_bounds(system), primal_bounds_exact=True)
    # DSO payment Σ λ P_pcc − Σ π R = −Σ μ_i b_i x = cᵀy − μᵀr (strong duality)
    objective(m, [*ds_costs, -1.0 * bilinear_value(ll)])
    return m, ll, ds_costs


def kkt_start(system: System, m: linopy.Model, ll, path,
              monitored: xr.DataArray | None = None,
              prepare: Callable[[linopy.Model, list[str]], None] | None = None) -> bool:
    """Write :func:`kkt_start_vector` as a HiGHS solution file (a MIP start)."""
    return write_start(m, kkt_start_vector(system, m, ll, monitored, prepare), path)


def kkt_start_vector(system: System, m: linopy.Model, ll,
                     monitored: xr.DataArray | None = None,
                     prepare: Callable[[linopy.Model, list[str]], None] | None = None,
                     ) -> np.ndarray:
    """Write a HiGHS MIP start for the nested MILP from the centralized PTDF optimum.

    The centralized LP's TSO dispatch is optimal for the TSO at the centralized PCC
    decision, and its duals (plus HiGHS's reduced costs for the lifted bounds) are
    optimal TSO duals: together with u = [μ ≠ 0] they form a KKT-consistent, feasible
    point of the single-level MILP. Returned in the column order of ``m.matrices``.
    ``prepare(model, lower-level rows)``, applied to the nested model too, is applied to
    the centralized model, so the start stays KKT-consistent.
    """
    from flexnet.coordination.centralized import build_centralized

    mc = build_centralized(system, "ptdf" if monitored is None else "lazy", monitored)
    if prepare is not None:
        prepare(mc, ll.constraints)
    _free_gen_p(mc)  # same lower level as the MILP, so every multiplier sits on a row
    run_highs(mc, scheme="nested/start", system=system)
    Mc = mc.matrices
    rc = np.zeros(int(np.asarray(Mc.vlabels).max()) + 1)
    rc[np.asarray(Mc.vlabels)] = np.asarray(highs_of(mc).getSolution().col_dual)
    values: dict[str, xr.DataArray] = {}
    for name in m.variables:
        if name in mc.variables:
            values[name] = mc.variables[name].solution
    for con in ll.constraints:
        dual = f"Dual-{con}"
        if con in mc.constraints:
            values[dual] = mc.constraints[con].dual
        else:  # a lifted bound row: the reduced cost of its variable, split by sign
            var, _, side = con.rpartition("-bound-")
            lab = mc.variables[var].labels
            r = xr.DataArray(rc[np.maximum(lab.values, 0)], coords=lab.coords, dims=lab.dims)
            values[dual] = r.clip(min=0) if side == "lower" else r.clip(max=0)
    for con, u in ll.binaries.items():
        mu = values[f"Dual-{con}"].broadcast_like(u.labels)
        values[u.name] = (np.abs(mu) > 1e-9).astype(float)
    M = m.matrices
    vl = np.asarray(M.vlabels)
    return label_vector(m, values, int(vl.max()) + 1)[vl]


def write_start(m: linopy.Model, xs: np.ndarray, path) -> bool:
    """Write column values in HiGHS's raw solution format (as ``writeSolution(path, 0)``)."""
    M = m.matrices
    with quiet_stdout():  # highspy 1.15 prints its banner when linopy passes the model
        lp = m.to_highspy(set_names=True).getLp()  # the names linopy's own hand-off uses
    names = list(lp.col_names_) or [f"c{i}" for i in range(xs.size)]
    rows = np.asarray(M.A @ xs)
    row_names = list(lp.row_names_) or [f"r{i}" for i in range(rows.size)]
    # HiGHS's raw solution format (what Highs.writeSolution(path, 0) produces)
    text = ["Model status", "Unknown", "", "# Primal solution values", "Feasible",
            "Objective 0", f"# Columns {xs.size}"]
    text += [f"{n} {v:.17g}" for n, v in zip(names, xs, strict=True)]
    text += [f"# Rows {rows.size}"] + [f"{n} {v:.17g}" for n, v in zip(row_names, rows,
                                                                          strict=True)]
    text += [""]
    Path(path).write_text("\n".join(text))
    return True


def _prices(ll, system: System, duals: dict[str, xr.DataArray]) -> tuple[xr.DataArray, dict]:
    mu = (duals["Line-flow-upper"] + duals["Line-flow-lower"]
          if "Line-flow-upper" in duals else None)
    lmp = ptdf_prices(system, duals["System-balance"], mu)
    flex = {f"flex_price_{d}": duals[f"Reserve-{d}-requirement"]
            for d in ("up", "down") if f"Reserve-{d}-requirement" in duals}
    return lmp, flex


def _pcc_lmp_check(system: System, lmp: xr.DataArray, lmp_alone: xr.DataArray,
                   low: xr.DataArray, high: xr.DataArray, tol: float) -> dict[str, float]:
    """Compare LMPs at the PCC buses: single level vs the TSO LP re-solved alone.

    At a bilevel optimum the DSOs' exchange often sits on a kink of the TSO's cost, where
    the TSO's optimal duals — so its LMP — are not unique: any price in [low, high] (the
    one-sided derivatives of the TSO's cost in the exchange) is optimal, and a re-solve
    may return another one than the single level. So: where the LMP is unique the two
    must agree; everywhere the single level's LMP must lie in [low, high].
    """
    pcc = system.ds.dso_bus
    a = lmp.sel(bus=pcc).drop_vars("bus").values          # (snapshot, dso)
    b = lmp_alone.sel(bus=pcc).drop_vars("bus").values
    lo, hi = low.transpose("snapshot", "dso").values, high.transpose("snapshot", "dso").values
    scale = np.maximum(np.abs(b), 1.0)
    unique = (hi - lo) <= tol * scale
    gap = np.abs(a - b) / scale
    outside = np.maximum(lo - a, a - hi) / scale
    return {"verify_lmp_gap_pcc": float(gap[unique].max(initial=0.0)),
            "verify_lmp_gap_pcc_all": float(gap.max(initial=0.0)),
            "verify_lmp_nonunique_pcc": int((~unique).sum()),
            "verify_lmp_outside_pcc": float(np.nan_to_num(outside, nan=np.inf).max(initial=0.0))}


def solve_nested(system: System, *, method: str = "auto", verify_tol: float = 1e-6,
                 max_retries: int = 2, hook: Callable[[linopy.Model], None] | None = None,
                 warm_start: bool = True, max_rounds: int = 5, parallel: bool | str = "auto",
                 workers: int | None = None, scheduler_address: str | None = None,
                 progress: bool = True, pricing: str = "optimistic",
                 pessimistic_step: float = 0.1, **options: Any) -> Result:
    """Solve the nested scheme and verify the lower level; see the module docstring.

    Parameters
    ----------
    method : {"auto", "blocks", "milp"}
        ``"blocks"``: hour-by-hour decomposition of the single-level MILP
        (:mod:`flexnet.bilevel.decompose`): Lagrangian lower bounds from one small MILP
        per hour and incumbents from a pattern master, until the gap is within
        ``mip_gap`` (default 10⁻³ here). ``"milp"``: the whole MILP in one HiGHS solve
        (``mip_gap`` default 10⁻⁴), from the centralized MIP start when ``warm_start``.
        ``"auto"``: ``"blocks"`` unless a ``hook`` adds rows or ``warm_start`` is off
        (the decomposition starts from the MIP start, which extra rows may cut off).
    max_rounds : int
        ``"blocks"``: most rounds (each: the hours' MILPs and one master).
    parallel, workers, scheduler_address
        ``"blocks"``: solve the hours on dask (a LocalCluster, or an existing scheduler),
        as :func:`flexnet.parallel.use_dask` decides (``"auto"``: when either is given).
    pricing : {"optimistic", "pessimistic"}
        Which optimal TSO prices the DSOs plan against where they are not unique
        (docs/nested.md). ``"optimistic"``: the KKT single level's pick, the lowest
        payment (the optimistic bilevel convention). ``"pessimistic"``: the plan that is
        best for the DSOs when the TSO publishes the highest optimal prices; its payment
        is then ``dso_payment_max`` (:func:`_pessimistic`; about three solves).
    pessimistic_step : float
        ``"pessimistic"``: how far (MW, on the largest exchange entry) the candidate plan
        is kept from the TSO's price kinks.
    formulation : {"auto", "ptdf", "lazy"} (in ``options``)
        The lower level is always in PTDF form (compact KKT). ``"lazy"`` (``"auto"`` above
        1,500 lines): only monitored line limits are lower-level rows, so only they get
        KKT rows and binaries; the monitored set starts from the centralized lazy solve's
        and grows by every line the nested plan overloads, until none does (then the
        reduced lower level's optimum is the full one's).
    """
    if pricing not in ("optimistic", "pessimistic"):
        raise ValueError(f"nested: pricing must be 'optimistic' or 'pessimistic', "
                         f"not {pricing!r}")
    if not pessimistic_step > 0:
        raise ValueError(f"nested: pessimistic_step must be > 0 MW, not {pessimistic_step}")
    options |= {"method": method, "verify_tol": verify_tol, "max_retries": max_retries,
                "hook": hook, "warm_start": warm_start, "max_rounds": max_rounds,
                "parallel": parallel, "workers": workers,
                "scheduler_address": scheduler_address, "progress": progress}
    res = _solve_nested(system, **options)
    if pricing == "pessimistic":
        return _pessimistic(system, res, pessimistic_step, options)
    res.dataset.attrs.update(pricing="optimistic",
                             dso_cost_priced=_priced(res.dataset.attrs, "min"))
    return res


def _priced(attrs: dict, end: str) -> float:
    """The DSOs' cost (DS costs + payment) with the payment at one end of its range."""
    return float(attrs["mip_objective"] - attrs["dso_payment"] + attrs[f"dso_payment_{end}"])


def _exchange(m: linopy.Model) -> list[str]:
    return [v for v in m.variables if v.startswith(("Pcc-", "Tvpp-"))]


def _pessimistic(system: System, first: Result, step: float,
                 options: dict[str, Any]) -> Result:
    """The pessimistic plan: among the optimistic plan and a plan kept off the TSO's price
    kinks, the one whose cost is lowest when priced at ``dso_payment_max``.

    The TSO's optimal cost φ is convex and piecewise linear in the DSOs' exchange x, and
    its optimal prices are not unique exactly at its kinks, where a DSO facing the worst
    price pays the right derivative. Solving the single level with the TSO seeing
    (1 + t)·x instead of x moves every chosen kink to (1 + t)·x, so the DSOs' real x lies
    a fraction t below it, where the price is the left one and unique along x. The plan is
    then re-solved with its exchange fixed against the true TSO (verified as usual) and
    priced at the top of its range. The pessimistic infimum lies between the optimistic
    dual bound (``pessimistic_bound``) and the returned cost, and need not be attained
    (pessimistic bilevel problems in general have no minimiser; docs/nested.md).
    """
    a = first.dataset.attrs
    scale = max(float(np.abs(first.dataset[v]).max()) for v in ("pcc_p", "pcc_flex_up",
                                                                 "pcc_flex_down")
                if v in first.dataset)
    candidates = [first]
    if a["dso_payment_max"] - a["dso_payment_min"] > 1e-6 * max(1.0, abs(a["dso_payment"])) \
            and scale > 0:
        t = step / scale

        def perturb(model: linopy.Model, rows: list[str]) -> None:
            _scale_exchange(model, rows, 1.0 + t)

        moved = _solve_nested(system, prepare=perturb, **options)
        x = _exchange_values(moved)

        def fix(model: linopy.Model, rows: list[str]) -> None:
            for name, value in x.items():
                model.variables[name].update(lower=value, upper=value)

        candidates.append(_solve_nested(system, prepare=fix, **options))
    best = min(candidates, key=lambda r: _priced(r.dataset.attrs, "max"))
    b = best.dataset.attrs
    b.update(pricing="pessimistic", dso_cost_priced=_priced(b, "max"),
             dso_payment=b["dso_payment_max"],
             pessimistic_bound=float(a["mip_dual_bound"]),
             pessimistic_candidates=len(candidates),
             dso_cost_optimistic_plan=_priced(a, "max"))
    return best


def _solve_nested(system: System, *, method: str = "auto", verify_tol: float = 1e-6,
                  max_retries: int = 2, hook: Callable[[linopy.Model], None] | None = None,
                  warm_start: bool = True, max_rounds: int = 5, parallel: bool | str = "auto",
                  workers: int | None = None, scheduler_address: str | None = None,
                  progress: bool = True,
                  prepare: Callable[[linopy.Model, list[str]], None] | None = None,
                  **options: Any) -> Result:
    """Solve the nested scheme once (optimistic pricing) and verify the lower level
    (parameters: :func:`solve_nested`).

    Parameters
    ----------
    prepare : callable, optional
        ``prepare(model, lower-level rows)``, applied to the single level and to the
        centralized model its MIP start comes from (unlike ``hook``, it keeps the start
        consistent, so ``method="blocks"`` stays available).
    """
    formulation = options.pop("formulation", None) or "auto"
    if formulation not in ("auto", "angle", "ptdf", "lazy"):
        raise ValueError(f"nested: unknown formulation {formulation!r}")
    lazy = formulation == "lazy" or (formulation == "auto" and system.has_ts
                                     and system.n("line") > LAZY_FROM_LINES)
    if method not in ("auto", "blocks", "milp"):
        raise ValueError(f"nested: method must be 'auto', 'blocks' or 'milp', not {method!r}")
    if method == "blocks" and (hook is not None or not warm_start):
        raise ValueError("nested: method='blocks' starts from the centralized MIP start; it "
                         "cannot be used with a hook or warm_start=False (use method='milp')")
    blocks = method == "blocks" or (method == "auto" and hook is None and warm_start)
    options["solver_options"] = {"mip_feasibility_tolerance": MIP_FEASIBILITY_TOLERANCE,
                                 **(options.get("solver_options") or {})}
    if "time_limit" not in options:
        options["time_limit"] = DEFAULT_TIME_LIMIT
        log.warning("nested: no time_limit given, using %d s (time_limit=None disables it); "
                    "the MIP start makes a time-limited solve return a verified plan",
                    DEFAULT_TIME_LIMIT)
    def single_level(monitored: xr.DataArray | None) -> SimpleNamespace:
        """Build and solve the single level; enlarge the dual bounds ×10 while a Big-M
        binds (at most ``max_retries`` times)."""
        use_blocks, scale, by_blocks = blocks, 1.0, None
        for attempt in range(max_retries + 1):
            m, ll, ds_costs = build_nested(system, scale, monitored, prepare)
            if hook is not None:
                hook(m)
            log.info("nested: %d binaries, %d variables, %d constraints",
                     sum(int((b.labels >= 0).sum()) for b in ll.binaries.values()),
                     m.nvars, m.ncons)
            if use_blocks:  # m.matrices flattens the model on every access: do it once here
                milp = milp_data(m)
                block = blocks_of(m, "snapshot", milp.vlabels)
            if use_blocks and method == "auto" and _lower_level_couples_hours(m, ll, milp, block):
                log.info("nested: the TSO's rows couple the hours (ramps): its KKT system "
                         "does not fall apart by hour, so the whole MILP is solved "
                         "(method='milp')")
                use_blocks = False
            if use_blocks:
                by_blocks = _solve_by_blocks(system, m, ll, milp, block, options,
                                             monitored=monitored, prepare=prepare,
                                             max_rounds=max_rounds,
                                             parallel=parallel, workers=workers,
                                             scheduler_address=scheduler_address,
                                             progress=progress)
                status = by_blocks.status
            else:
                with tempfile.TemporaryDirectory(prefix="flexnet-") as tmp:
                    opts = dict(options)
                    # the start is only KKT-consistent for the plain model (no hook rows)
                    if warm_start and hook is None and kkt_start(system, m, ll,
                                                                 Path(tmp) / "s.sol", monitored,
                                                                 prepare):
                        opts["warmstart_fn"] = Path(tmp) / "s.sol"
                    status = run_highs(m, scheme="nested", system=system, options=opts)
            binding = binding_bigms(ll)
            if binding.empty or attempt == max_retries:
                break
            log.warning("nested: %d Big-M bounds binding; enlarging dual bounds x10",
                        len(binding))
            scale *= 10
        return SimpleNamespace(m=m, ll=ll, ds_costs=ds_costs, status=status, binding=binding,
                               scale=scale, blocks=use_blocks, by_blocks=by_blocks)

    def step(monitored: xr.DataArray) -> tuple[linopy.Model, str, SimpleNamespace]:
        sl = single_level(monitored)
        return sl.m, sl.status, sl

    if lazy:  # from the centralized optimum's lines, until the plan overloads none
        sl, _, lazy_info, _ = lazy_rounds(step, system, scheme="nested",
                                          hint="use formulation='ptdf'",
                                          monitored=_screen(system, options))
    else:
        sl, lazy_info = single_level(None), {}
    m, ll, ds_costs, status, binding = sl.m, sl.ll, sl.ds_costs, sl.status, sl.binding
    scale, blocks, by_blocks = sl.scale, sl.blocks, sl.by_blocks
    lower = lower_level_lp(ll)  # built once, for verify and the LMP ranges
    check = verify(ll, tol=verify_tol, lp=lower)
    single = {n: d.solution for n, d in ll.duals.items()}
    lmp, flex = _prices(ll, system, single)
    res = extract(m, system)
    lmp_check: dict[str, float] = {"verify_lmp_gap_pcc": np.inf}  # no re-solve: no comparison
    if check["duals"] is not None:
        lmp_alone, _ = _prices(ll, system, check["duals"])
        low, high = marginal_values(ll, "Pcc-p", lp=lower)
        lmp_check = _pcc_lmp_check(system, lmp, lmp_alone, low, high, verify_tol)
        res["pcc_lmp_low"], res["pcc_lmp_high"] = low, high
    res["bus_lmp"] = lmp
    for k, v in flex.items():
        res[k] = v
    dso_payment = -float(bilinear_value(ll).solution.sum())
    # the TSO's optimal prices need not be unique at this plan: what the DSOs pay then
    # depends on which optimal dual is published (the KKT single level picks one)
    pay_low, pay_high = (directional_range(ll, lp=lower)
                         if check["duals"] is not None else (np.nan, np.nan))
    if pay_high - pay_low > 1e-6 * max(1.0, abs(dso_payment)):
        log.warning("nested: the TSO's optimal prices are not unique at the nested plan: the "
                    "DSOs' payment ranges over [%.1f, %.1f] $ across them; the plan is priced "
                    "at %.1f $ (the single level's pick, the optimistic bilevel convention)",
                    pay_low, pay_high, dso_payment)
    if blocks:
        gap, upper, lower = by_blocks.gap, by_blocks.objective, by_blocks.bound
        method_attrs = {"nested_method": "blocks", "blocks_rounds": len(by_blocks.rounds),
                        "blocks_seconds": by_blocks.seconds,
                        "blocks_hour_solve_s": sum(r["block_s_sum"] for r in by_blocks.rounds)}
        if status != "optimal":
            warnings.warn(f"nested: the block decomposition stopped ({status}) at a "
                          f"{gap:.2e} gap; the plan is feasible and verified — raise "
                          "max_rounds or time_limit, or use method='milp'",
                          RuntimeWarning, stacklevel=2)
    else:
        info = highs_of(m).getInfo()
        const = objective_constant(m)  # added to both ends of the gap
        gap = float(info.mip_gap)
        upper = float(info.objective_function_value) + const
        lower = float(info.mip_dual_bound) + const
        method_attrs = {"nested_method": "milp"}
    extra = {"verify_objective_gap": float(check["objective_gap"]),
             "verify_dual_objective_gap": float(check["dual_objective_gap"]),
             **lmp_check,
             "verify_passed": int(bool(check["passed"]) and lmp_check.get(
                 "verify_lmp_outside_pcc", np.inf) <= verify_tol and lmp_check[
                 "verify_lmp_gap_pcc"] <= verify_tol),
             "bigm_binding": len(binding), "bigm_scale": scale,
             "dso_payment": dso_payment, "dso_payment_min": pay_low,
             "dso_payment_max": pay_high,
             "binaries": sum(int((b.labels >= 0).sum()) for b in ll.binaries.values()),
             **lazy_info,
             # the upper level's objective (DS costs + payment) and the proven bound on it
             "mip_gap": gap, "mip_objective": upper, "mip_dual_bound": lower, **method_attrs}
    system_cost = float(check["objective_single_level"]) + float(
        sum(c.solution.sum() for c in ds_costs if not isinstance(c, int | float)))
    return finalize(res, system, scheme="nested", status=status, objective=system_cost,
                    extra=extra)


def _scale_exchange(m: linopy.Model, rows: list[str], k: float) -> None:
    """Multiply the DSOs' exchange's coefficients in ``rows`` by k: those rows then see
    k·x where the DSOs schedule x."""
    labels = np.concatenate([m.variables[v].labels.values.ravel() for v in _exchange(m)])
    labels = labels[labels >= 0]  # −1 marks masked entries, and terms a row does not have
    for name in rows:
        if name not in m.constraints:
            continue
        con = m.constraints[name]
        on = np.isin(con.vars.values, labels)
        if on.any():
            con.update(coeffs=con.coeffs.where(~on, con.coeffs * k))


def _exchange_values(res: Result) -> dict[str, xr.DataArray]:
    """The DSOs' scheduled exchange, by model variable name."""
    d = res.dataset
    out = {"Pcc-p": d.pcc_p}
    for side in ("up", "down"):
        if f"pcc_flex_{side}" in d:
            out[f"Pcc-r-{side}"] = d[f"pcc_flex_{side}"]
    return {k: v.transpose("snapshot", "dso") for k, v in out.items()}


def _screen(system: System, options: dict[str, Any]) -> xr.DataArray:
    """The first monitored set: the lines the centralized optimum needs as rows."""
    from flexnet.coordination.centralized import build_centralized, solve_lazy

    opts = {k: v for k, v in options.items() if k not in ("solver_options", "mip_gap")}
    return solve_lazy(lambda mon: build_centralized(system, "lazy", mon), system,
                      scheme="nested/screen", options=opts)[3]


def _in_order(items: list, order: np.ndarray) -> np.ndarray:
    """Mask, in matrix ``order`` (labels), of the entries of these variables/constraints."""
    mask = np.zeros(int(order.max()) + 1, dtype=bool)
    for item in items:
        lab = item.labels.values
        mask[lab[lab >= 0]] = True
    return mask[order]


def _lower_level_couples_hours(m: linopy.Model, ll, milp: Milp, block: np.ndarray) -> bool:
    """Whether a row of the lower level or of its KKT system spans several snapshots.

    Then pricing the coupling rows would relax the lower level's optimality itself and
    the hourly bound is weak (measured: −145,000 against an optimum of 40.8 with ramps
    binding), so ``method="auto"`` solves the whole MILP instead.
    """
    rows = [m.constraints[name] for name in [*ll.constraints, *ll.kkt_rows]]
    return bool((_in_order(rows, milp.clabels) & coupling_rows(milp.A, block)).any())


def _given(options: dict[str, Any], key: str, default: Any) -> Any:
    return default if options.get(key) is None else options[key]


def _pattern(ll, milp: Milp) -> np.ndarray:
    """Columns of the lower level's duals and complementarity binaries (matrix order)."""
    return _in_order([*ll.duals.values(), *ll.binaries.values()], milp.vlabels)


def _solve_by_blocks(system: System, m: linopy.Model, ll, milp: Milp, block: np.ndarray,
                     options: dict[str, Any], monitored: xr.DataArray | None = None,
                     prepare: Callable[[linopy.Model, list[str]], None] | None = None,
                     **kw: Any) -> BlockResult:
    """Solve the single level hour by hour (:func:`flexnet.bilevel.decompose.solve_by_blocks`)
    from the centralized MIP start and write the best plan onto ``m``."""
    t_call = time.perf_counter()
    start = kkt_start_vector(system, m, ll, monitored, prepare)
    t_solve = time.perf_counter()
    out = solve_by_blocks(milp, block, _pattern(ll, milp), start,
                          # the CLI passes unset options as None
                          mip_gap=_given(options, "mip_gap", 1e-3),
                          time_limit=options.get("time_limit"),
                          threads=_given(options, "threads", 1),
                          solver_options=options.get("solver_options"), **kw)
    # linopy knows no "max_rounds"/"stalled": a plan short of the gap is "suboptimal" to it
    assign_primal(m, out.x, out.objective - milp.const,
                  condition=out.status if out.status in ("optimal", "time_limit")
                  else "suboptimal", vlabels=milp.vlabels)
    t_end = time.perf_counter()
    record_solve(m, "nested", milp.A.shape[1], milp.A.shape[0], milp.A.nnz, t_call, t_end,
                 t_end - t_solve, out.status)
    return out
