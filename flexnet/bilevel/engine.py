"""Generic KKT reformulation of a linopy LP lower level inside one linopy model.

A lower level (LL) is a set of named constraints and variables of a model plus a linear
objective. Variables of the model that appear in LL constraints but are not LL variables
are the upper level's decisions: parameters of the LL. The engine adds, in bulk from the
sparse constraint matrix:

- ``Dual-<constraint>``: one dual per LL row, with linopy's sign table
  (``=`` free, ``<=`` ≤ 0, ``>=`` ≥ 0 for a minimising LL) and a magnitude bound M_D;
- ``Stationarity-<variable>``: Σ_i A_ij μ_i = c_j for every LL variable j;
- ``Comp-<constraint>`` binaries with ``Comp-<constraint>-dual`` (|μ| ≤ M_D u) and
  ``Comp-<constraint>-slack`` (slack ≤ M_P (1 − u)) for every inequality row.

Sign convention (as linopy's ``dualization.py``): μ_i = ∂(LL cost)/∂rhs_i.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import highspy
import numpy as np
import pandas as pd
import scipy.sparse as sp
import xarray as xr
from linopy.expressions import LinearExpression

from flexnet.errors import DataError
from flexnet.solver import checked, new_highs, run_checked

if TYPE_CHECKING:
    import linopy

__all__ = ["LowerLevel", "add_kkt", "binding_bigms", "bilinear_value", "declare_lower_level",
           "directional_range",
           "lower_level_lp", "marginal_values", "verify"]


@dataclass
class LowerLevel:
    """A declared lower level: its rows, columns and objective inside ``model``."""

    model: linopy.Model
    constraints: list[str]
    variables: list[str]
    objective: LinearExpression
    duals: dict[str, linopy.Variable] = field(default_factory=dict)
    binaries: dict[str, linopy.Variable] = field(default_factory=dict)
    dual_bound: dict[str, xr.DataArray] = field(default_factory=dict)
    primal_bound: dict[str, xr.DataArray] = field(default_factory=dict)
    #: constraints whose slack Big-M came from a hint (derived ones cannot cut anything off)
    hinted: set[str] = field(default_factory=set)
    #: the rows :func:`add_kkt` added (stationarity and complementarity)
    kkt_rows: list[str] = field(default_factory=list)


def declare_lower_level(
    m: linopy.Model,
    constraints: list[str],
    variables: list[str],
    objective: LinearExpression,
    *,
    lift_bounds: bool | list[str] = True,
) -> LowerLevel:
    """Declare which constraints and variables of ``m`` form a (minimising) LP lower level.

    Finite bounds of LL variables are lifted into constraints ``<var>-bound-lower`` /
    ``<var>-bound-upper`` (the variable keeps its bounds too, which is the same feasible
    set), so that they get duals and complementarity like any other row.

    Raises
    ------
    ValueError
        If a name is not in the model.
    """
    missing = [c for c in constraints if c not in m.constraints] + \
              [v for v in variables if v not in m.variables]
    if missing:
        raise ValueError(f"lower level: not in the model: {missing}")
    cons = list(constraints)
    if lift_bounds:
        lift = variables if lift_bounds is True else list(lift_bounds)
        for name in lift:
            var = m.variables[name]
            ok = var.labels != -1
            for side, bound, op in (("lower", var.lower, "ge"), ("upper", var.upper, "le")):
                finite = ok & np.isfinite(bound)
                if not bool(finite.any()):
                    continue
                cname = f"{name}-bound-{side}"
                con = (var >= bound) if op == "ge" else (var <= bound)
                m.add_constraints(con, name=cname, mask=finite)
                cons.append(cname)
    return LowerLevel(m, cons, list(variables), objective)


def _label_lookup(labels: np.ndarray, size: int) -> np.ndarray:
    out = np.full(size, -1, dtype=np.int64)
    ok = labels >= 0
    out[labels[ok]] = np.flatnonzero(ok)
    return out


def _as_da(value, con: linopy.Constraint, what: str, name: str) -> xr.DataArray:
    if value is None:
        raise DataError(f"lower level: no {what} for constraint {name!r}; pass one "
                        f"(e.g. dual_bounds={{{name!r}: ...}})")
    da = xr.DataArray(value) if not isinstance(value, xr.DataArray) else value
    # a bound given for every element of a dim fits a constraint on some of them (lazy
    # line rows): select the constraint's elements instead of widening it
    da = da.reindex({d: con.labels.indexes[d] for d in da.dims if d in con.labels.indexes})
    return da.broadcast_like(con.labels).astype(float)


def _primal_range(m: linopy.Model, con: linopy.Constraint) -> tuple[xr.DataArray, xr.DataArray]:
    """Interval bounds [min, max] of each row's left-hand side from variable bounds."""
    M = m.matrices
    size = int(M.vlabels.max()) + 1
    pos = _label_lookup(np.asarray(M.vlabels, dtype=np.int64), size)
    lb_all, ub_all = np.asarray(M.lb, float), np.asarray(M.ub, float)
    v = con.vars.values
    a = con.coeffs.values
    has = v >= 0
    p = np.where(has, pos[np.where(has, v, 0)], -1)
    lb = np.where(p >= 0, lb_all[np.maximum(p, 0)], 0.0)
    ub = np.where(p >= 0, ub_all[np.maximum(p, 0)], 0.0)
    with np.errstate(invalid="ignore"):
        lo = np.where(has, np.where(a >= 0, a * lb, a * ub), 0.0).sum(-1)
        hi = np.where(has, np.where(a >= 0, a * ub, a * lb), 0.0).sum(-1)
    dims = con.labels.dims
    return (xr.DataArray(lo, coords=con.labels.coords, dims=dims),
            xr.DataArray(hi, coords=con.labels.coords, dims=dims))


def add_kkt(
    ll: LowerLevel,
    *,
    dual_bounds: dict[str, float | xr.DataArray] | None = None,
    default_dual_bound: float | None = None,
    primal_bounds: dict[str, float | xr.DataArray] | None = None,
    primal_bounds_exact: bool = False,
) -> LowerLevel:
    """Add duals, stationarity, dual feasibility and Big-M complementarity for ``ll``.

    Parameters
    ----------
    dual_bounds : dict, optional
        Per LL constraint, a bound M_D on |dual| (float or DataArray along any of the
        constraint's labeled dims). These are the dual-side Big-Ms.
    default_dual_bound : float, optional
        M_D for constraints not in ``dual_bounds``.
    primal_bounds : dict, optional
        Per constraint, a bound M_P on the slack; by default it is derived row by row
        from the variable bounds (interval arithmetic), so it is never one magic number.
    primal_bounds_exact : bool, default False
        Declare that the given slack bounds are implied by the lower level's own
        constraints (e.g. 2F̄ for a line limit when −F̄ ≤ f ≤ F̄). Such bounds cannot cut
        off the optimum, so :func:`binding_bigms` does not report them.

    Raises
    ------
    DataError
        If a Big-M cannot be derived (an unbounded variable in a row without a hint).
    """
    m = ll.model
    dual_bounds, primal_bounds = dict(dual_bounds or {}), dict(primal_bounds or {})
    for name in ll.constraints:
        con = m.constraints[name]
        md = _as_da(dual_bounds.get(name, default_dual_bound), con, "dual bound (M_D)", name)
        sign = con.sign.broadcast_like(con.labels)
        ok = con.labels != -1
        lower = xr.where(sign == "<=", -md, xr.where(sign == ">=", 0.0, -md))
        upper = xr.where(sign == ">=", md, xr.where(sign == "<=", 0.0, md))
        ll.duals[name] = m.add_variables(lower=lower, upper=upper, coords=con.labels.coords,
                                         name=f"Dual-{name}", mask=ok)
        ll.dual_bound[name] = md
    _add_stationarity(ll)
    for name in ll.constraints:
        con = m.constraints[name]
        sign = con.sign.broadcast_like(con.labels)
        ineq = (con.labels != -1) & (sign != "=")
        if not bool(ineq.any()):
            continue
        sigma = xr.where(sign == "<=", 1.0, -1.0)  # slack = σ (rhs − lhs) ≥ 0
        if name in primal_bounds:
            mp = _as_da(primal_bounds[name], con, "primal bound (M_P)", name)
            if not primal_bounds_exact:
                ll.hinted.add(name)
        else:
            lo, hi = _primal_range(m, con)
            mp = xr.where(sign == "<=", con.rhs - lo, hi - con.rhs)
            bad = ineq & ~np.isfinite(mp)
            if bool(bad.any()):
                idx = {d: str(bad[d].values[i]) for d, i in
                       zip(bad.dims, np.unravel_index(int(np.argmax(bad.values)), bad.shape),
                           strict=True)}
                raise DataError(f"lower level: cannot derive the slack Big-M of constraint "
                                f"{name!r} at {idx}: a variable in it is unbounded; pass "
                                f"primal_bounds={{{name!r}: ...}}")
            mp = mp.where(ineq, 0.0)
        mp = mp.clip(min=1e-6)
        u = m.add_variables(binary=True, coords=con.labels.coords, name=f"Comp-{name}",
                            mask=ineq).fillna(0)
        mu = ll.duals[name].fillna(0)  # masked rows are dropped by the constraint masks
        m.add_constraints(-sigma * mu - ll.dual_bound[name] * u <= 0, name=f"Comp-{name}-dual",
                          mask=ineq)
        ll.kkt_rows.append(f"Comp-{name}-dual")
        # masked rows may carry an infinite rhs (a lifted bound that is +inf for some
        # entries); linopy rejects infinities before it applies the mask
        rhs = con.rhs.where(ineq, 0.0)
        m.add_constraints(sigma * (rhs - con.lhs) + mp * u <= mp, name=f"Comp-{name}-slack",
                          mask=ineq)
        ll.kkt_rows.append(f"Comp-{name}-slack")
        ll.binaries[name] = m.variables[f"Comp-{name}"]
        ll.primal_bound[name] = mp
    return ll


def _ll_objective_coeffs(ll: LowerLevel, size: int) -> np.ndarray:
    c = np.zeros(size)
    v = ll.objective.vars.values.ravel()
    a = ll.objective.coeffs.values.ravel()
    ok = v >= 0
    np.add.at(c, v[ok], a[ok])
    return c


def _rows(ll: LowerLevel):
    """(A restricted to LL rows as COO triplets over flat labels, dual label per row)."""
    m = ll.model
    M = m.matrices
    A = M.A.tocoo()
    vl = np.asarray(M.vlabels, dtype=np.int64)
    cl = np.asarray(M.clabels, dtype=np.int64)
    n_con = int(cl.max()) + 1
    con_to_dual = np.full(n_con, -1, dtype=np.int64)
    for name in ll.constraints:
        c = m.constraints[name].labels.values.ravel()
        d = ll.duals[name].labels.values.ravel() if name in ll.duals else np.full(c.size, -1)
        ok = (c >= 0) & (d >= 0)
        con_to_dual[c[ok]] = d[ok]
    var = vl[A.col]
    dual = con_to_dual[cl[A.row]]
    keep = dual >= 0
    return var[keep], dual[keep], A.data[keep], int(vl.max()) + 1


def _add_stationarity(ll: LowerLevel) -> None:
    m = ll.model
    var_lab, dual_lab, coef, size = _rows(ll)
    c = _ll_objective_coeffs(ll, size)
    for name in ll.variables:
        var = m.variables[name]
        flat = var.labels.values.ravel().astype(np.int64)
        pos = _label_lookup(flat, size)
        idx = pos[var_lab]
        keep = idx >= 0
        i, d, a = idx[keep], dual_lab[keep], coef[keep]
        order = np.argsort(i, kind="stable")
        i, d, a = i[order], d[order], a[order]
        if i.size == 0:
            if np.any(c[flat[flat >= 0]] != 0):
                raise DataError(f"lower level: variable {name!r} has a cost but appears in no "
                                "lower-level constraint (the lower level is unbounded)")
            continue
        start = np.r_[True, i[1:] != i[:-1]]
        slot = np.arange(i.size) - np.flatnonzero(start)[np.cumsum(start) - 1]
        width = int(slot.max()) + 1
        vars2 = np.full((flat.size, width), -1, dtype=np.int64)
        coef2 = np.zeros((flat.size, width))
        vars2[i, slot] = d
        coef2[i, slot] = a
        dims = [*var.labels.dims, "_term"]
        shape = (*var.labels.shape, width)
        data = xr.Dataset({"vars": (dims, vars2.reshape(shape)),
                           "coeffs": (dims, coef2.reshape(shape))},
                          coords={k: var.labels.coords[k] for k in var.labels.dims})
        lhs = LinearExpression(data, m)
        cost = xr.DataArray(np.where(flat >= 0, c[np.maximum(flat, 0)], 0.0).reshape(
            var.labels.shape), coords=var.labels.coords, dims=var.labels.dims)
        m.add_constraints(lhs == cost, name=f"Stationarity-{name}", mask=var.labels != -1)
        ll.kkt_rows.append(f"Stationarity-{name}")


def bilinear_value(ll: LowerLevel) -> LinearExpression:
    """Linear expression equal to Σ_i μ_i (B_i x) at any KKT point (strong duality).

    With LL rows a_i y + b_i x ⋚ r_i, stationarity c = Aᵀμ and complementarity give
    cᵀy + Σ μ_i b_i x = μᵀr, hence Σ μ_i b_i x = μᵀr − cᵀy: linear in (μ, y). Use it
    to replace upper-level terms such as λ·P_pcc.
    """
    m = ll.model
    total = None
    for name in ll.constraints:
        con = m.constraints[name]
        term = (con.rhs.where(con.labels != -1, 0.0) * ll.duals[name].fillna(0)).sum()
        total = term if total is None else total + term
    return total - ll.objective


def binding_bigms(ll: LowerLevel, rtol: float = 1e-6) -> pd.DataFrame:
    """Every Big-M that is binding at the current solution (should be none).

    A dual at its bound M_D, or a slack at a *hinted* M_P on a row whose binary is 0,
    means the Big-M may have cut off the true lower-level optimum. Slack bounds derived
    from variable bounds are exact and cannot cut anything off, so they are not reported.
    """
    m = ll.model
    rows = []
    for name in ll.constraints:
        mu = ll.duals[name].solution
        md = ll.dual_bound[name]
        hit = (np.abs(mu) >= (1 - rtol) * md) & np.isfinite(md) & (md > 0)
        for idx in np.argwhere(hit.values):
            rows.append({"constraint": name, "side": "dual", "index": tuple(idx.tolist()),
                         "value": float(mu.values[tuple(idx)]), "M": float(md.values[tuple(idx)])})
        if name in ll.binaries and name in ll.hinted:
            con = m.constraints[name]
            sign = con.sign.broadcast_like(con.labels)
            sigma = xr.where(sign == "<=", 1.0, -1.0)
            slack = sigma * (con.rhs - con.lhs.solution)
            mp = ll.primal_bound[name]
            u = ll.binaries[name].solution
            hit = (u < 0.5) & (slack >= (1 - rtol) * mp) & (mp > 1e-6)
            for idx in np.argwhere(hit.values):
                rows.append({"constraint": name, "side": "slack", "index": tuple(idx.tolist()),
                             "value": float(slack.values[tuple(idx)]),
                             "M": float(mp.values[tuple(idx)])})
    return pd.DataFrame(rows, columns=["constraint", "side", "index", "value", "M"])


def lower_level_lp(ll: LowerLevel) -> dict[str, Any]:
    """The lower level alone as a highspy LP, upper-level variables fixed at their values.

    Returns the Highs object and what is needed to map back: matrix rows of the LL
    constraints (``rows``), their coefficients on all columns (``sub``), which matrix
    columns are LL variables (``col_is_ll``), the solution by label (``x``), the
    right-hand side with the fixed part moved over (``b``), senses and LL costs.
    """
    m = ll.model
    M = m.matrices
    vl = np.asarray(M.vlabels, dtype=np.int64)
    cl = np.asarray(M.clabels, dtype=np.int64)
    size = int(vl.max()) + 1
    A = M.A.tocsr()
    ll_vars = np.concatenate([m.variables[v].labels.values.ravel() for v in ll.variables])
    ll_vars = ll_vars[ll_vars >= 0]
    is_ll = np.zeros(size, bool)
    is_ll[ll_vars] = True
    col_is_ll = is_ll[vl]
    con_pos = _label_lookup(cl, int(cl.max()) + 1)
    row_labels = np.concatenate([m.constraints[c].labels.values.ravel() for c in ll.constraints])
    row_labels = row_labels[row_labels >= 0]
    rows = con_pos[row_labels]
    sub = A[rows]
    x = _solution_vector(m, size)
    fixed = sub[:, ~col_is_ll] @ x[vl[~col_is_ll]]
    A_ll = sub[:, col_is_ll].tocsr()
    b = np.asarray(M.b, float)[rows] - fixed
    sense = np.asarray(M.sense)[rows]
    inf = highspy.kHighsInf
    c = _ll_objective_coeffs(ll, size)[vl[col_is_ll]]
    h = new_highs(name="lower level")
    n = int(col_is_ll.sum())
    checked(h.addVars(n, np.full(n, -inf), np.full(n, inf)), "addVars", "lower level")
    checked(h.changeColsCost(n, np.arange(n, dtype=np.int32), c), "changeColsCost", "lower level")
    checked(h.addRows(len(rows), *_row_bounds(b, sense), A_ll.nnz, *_csr_parts(A_ll)), "addRows",
            "lower level")
    return {"h": h, "rows": rows, "sub": sub, "col_is_ll": col_is_ll, "vl": vl, "x": x,
            "b": b, "sense": sense, "c": c, "A_ll": A_ll}


def _row_bounds(b: np.ndarray, sense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inf = highspy.kHighsInf
    return np.where(sense == "<", -inf, b), np.where(sense == ">", inf, b)


def verify(ll: LowerLevel, *, tol: float = 1e-6,
           lp: dict[str, Any] | None = None) -> dict[str, object]:
    """Re-solve the lower level alone at the upper level's solution and compare.

    The LL rows are assembled from the constraint matrix with every upper-level variable
    fixed at its solved value (moved to the right-hand side) and solved as an LP with
    HiGHS. Returns the LL objective of the single-level solution and of the re-solve,
    their relative gap, the re-solved duals per constraint (as DataArrays) and the largest
    dual gap per constraint. ``lp`` is the lower level from :func:`lower_level_lp`, if
    already built (:func:`marginal_values` can then reuse it).
    """
    m = ll.model
    lp = lower_level_lp(ll) if lp is None else lp
    h, b, c, A_ll = lp["h"], lp["b"], lp["c"], lp["A_ll"]
    x, vl, col_is_ll = lp["x"], lp["vl"], lp["col_is_ll"]
    run_checked(h, "lower level")
    status = h.modelStatusToString(h.getModelStatus())
    obj_single = float(c @ x[vl[col_is_ll]])
    if status != "Optimal":
        return {"status": status, "objective_single_level": obj_single,
                "objective_alone": np.nan, "objective_gap": np.inf,
                "dual_objective_gap": np.inf, "stationarity_residual": np.inf,
                "duals": None, "dual_gaps": {}, "passed": False}
    obj_alone = float(h.getInfo().objective_function_value)
    row_dual = np.asarray(h.getSolution().row_dual)
    duals, gaps = {}, {}
    offset = 0
    for name in ll.constraints:
        lab = m.constraints[name].labels
        ok = lab.values >= 0
        arr = np.full(lab.shape, np.nan)
        k = int(ok.sum())
        arr[ok] = row_dual[offset:offset + k]
        offset += k
        duals[name] = xr.DataArray(arr, coords=lab.coords, dims=lab.dims)
        gaps[name] = float(np.nanmax(np.abs(duals[name] - ll.duals[name].solution.where(ok))))
    scale = max(abs(obj_alone), 1.0)
    # the single-level duals must be an optimal dual solution of the re-solved LP: dual
    # feasible (stationarity holds by construction; checked here) with μᵀ r(x*) = optimum
    mu = np.concatenate([ll.duals[n].solution.values.ravel()[m.constraints[n].labels.values
                                                             .ravel() >= 0]
                         for n in ll.constraints])
    dual_obj = float(mu @ b)
    stat = float(np.max(np.abs(A_ll.T @ mu - c))) if c.size else 0.0
    obj_gap = abs(obj_single - obj_alone) / scale
    dual_gap = abs(dual_obj - obj_alone) / scale
    return {"status": status, "objective_single_level": obj_single,
            "objective_alone": obj_alone, "objective_gap": obj_gap,
            "dual_objective_gap": dual_gap, "stationarity_residual": stat,
            "duals": duals, "dual_gaps": gaps,
            "passed": obj_gap <= tol and dual_gap <= tol and stat <= tol * max(1.0, np.abs(c).max(initial=0))}


def marginal_values(ll: LowerLevel, variable: str, *, eps: float = 1e-3,
                    lp: dict[str, Any] | None = None,
                    screen: bool = True) -> tuple[xr.DataArray, xr.DataArray]:
    """Left and right derivatives of the lower level's optimal cost in an upper-level variable.

    The lower level alone (as in :func:`verify`) is re-solved warm with one entry of
    ``variable`` moved by −``eps`` and by +``eps``; (φ(x) − φ(x−ε))/ε and
    (φ(x+ε) − φ(x))/ε are returned per entry. φ is convex in the right-hand side, and by
    LP sensitivity these are the smallest and largest value of that entry's marginal
    price over all optimal lower-level duals (exact unless another kink lies within
    ``eps``). Where they differ, the lower level's duals are not unique at this decision:
    any price in [left, right] is an optimal dual price, the single level's and a
    re-solve's alike. NaN where a moved point is not solvable. ``lp``: as for
    :func:`verify` (after :func:`verify` it is already solved, and the first run is free).

    ``screen`` (default) skips the re-solves where the optimal basis provably stays
    optimal over ±``eps`` (:func:`_basis_holds`, one FTRAN per entry); there both
    derivatives are the dual price −Σ_i a_ij y_i. Only the other entries are re-solved.
    """
    lp, phi = _solved_lower_level(ll, lp)
    h, b, sense, sub, vl = lp["h"], lp["b"], lp["sense"], lp["sub"].tocsc(), lp["vl"]
    lab = ll.model.variables[variable].labels
    pos = _label_lookup(vl, int(vl.max()) + 1)
    flat = lab.values.ravel()
    out = np.full((2, flat.size), np.nan)
    cols = pos[np.maximum(flat, 0)]
    if screen:
        holds, price = _basis_holds(h, lp, sub[:, cols], eps)
        holds &= flat >= 0
        out[:, holds] = price[holds]
    else:
        holds = np.zeros(flat.size, dtype=bool)
    for k, label in enumerate(flat):  # one warm re-solve per entry and side: no vector form
        if label < 0 or holds[k]:
            continue
        j = pos[label]
        span = slice(sub.indptr[j], sub.indptr[j + 1])
        rows, coef = sub.indices[span].astype(np.int32), sub.data[span]
        if rows.size == 0:
            out[:, k] = 0.0
            continue
        out[:, k] = _slopes(h, b, sense, rows, coef, phi, (-eps, eps))
    left, right = (xr.DataArray(v.reshape(lab.shape), coords=lab.coords, dims=lab.dims)
                   for v in out)
    return left, right


def directional_range(ll: LowerLevel, variables: list[str] | None = None, *,
                      step: float = 1e-3,
                      lp: dict[str, Any] | None = None) -> tuple[float, float]:
    """The range of Σ_e λ_e·x_e over all optimal lower-level duals, λ_e = ∂φ/∂x_e being the
    marginal value of upper-level entry x_e (of ``variables``; default: every upper-level
    variable in the lower level's rows, so that the range is that of −:func:`bilinear_value`):
    the one-sided derivatives of the lower level's optimal cost φ along x itself.

    By LP sensitivity (φ is convex and piecewise linear in the right-hand side), the
    smallest is (φ(x) − φ(x − t·x))/t and the largest (φ(x + t·x) − φ(x))/t, exact while no
    other kink lies within the move; t is chosen so that no entry moves by more than
    ``step``. Two warm re-solves of the lower level alone. NaN where a moved point is not
    solvable.
    """
    lp, phi = _solved_lower_level(ll, lp)
    h, b, sense, sub, vl = lp["h"], lp["b"], lp["sense"], lp["sub"].tocsc(), lp["vl"]
    x_all = lp["x"]
    if variables is None:  # every upper-level column that enters a lower-level row
        cols = np.flatnonzero(~lp["col_is_ll"] & (np.diff(sub.indptr) > 0))
    else:
        lab = np.concatenate([ll.model.variables[v].labels.values.ravel() for v in variables])
        cols = _label_lookup(vl, int(vl.max()) + 1)[lab[lab >= 0]]
    x = x_all[vl[cols]]
    if not np.any(x):
        return 0.0, 0.0
    t = step / float(np.abs(x).max())
    move = sub[:, cols] @ x  # rows' change per unit of t
    rows = np.flatnonzero(move).astype(np.int32)
    low, high = _slopes(h, b, sense, rows, move[rows], phi, (-t, t))
    run_checked(h, "lower level")  # back at the solved point for later callers
    return float(low), float(high)


def _solved_lower_level(ll: LowerLevel,
                        lp: dict[str, Any] | None) -> tuple[dict[str, Any], float]:
    """The lower level alone (``lp``, built if None) solved at the upper level's point,
    and its optimal cost φ; raise if it is not optimal there."""
    lp = lower_level_lp(ll) if lp is None else lp
    h = lp["h"]
    run_checked(h, "lower level")
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"lower level not optimal at the upper-level solution: "
                           f"{h.modelStatusToString(h.getModelStatus())}")
    return lp, h.getInfo().objective_function_value


def _slopes(h: Any, b: np.ndarray, sense: np.ndarray, rows: np.ndarray, coef: np.ndarray,
            phi: float, steps: tuple[float, ...]) -> list[float]:
    """(φ(t) − φ)/t for each step t, the ``rows``' right-hand sides moved by −coef·t (warm
    re-solves; NaN where a moved point is not solvable); the rows' bounds are put back."""
    out = []
    for step in steps:
        lo, hi = _row_bounds(b[rows] - coef * step, sense[rows])
        checked(h.changeRowsBounds(rows.size, rows, lo, hi), "changeRowsBounds", "lower level")
        run_checked(h, "lower level")
        ok = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
        out.append((h.getInfo().objective_function_value - phi) / step if ok else np.nan)
    lo, hi = _row_bounds(b[rows], sense[rows])
    checked(h.changeRowsBounds(rows.size, rows, lo, hi), "changeRowsBounds", "lower level")
    return out


def _basis_holds(h: Any, lp: dict[str, Any], D: sp.csc_matrix,
                 eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Which parameter moves keep the optimal basis primal feasible over [−eps, +eps].

    Column j of ``D`` holds a parameter's coefficients in the rows; moving it by t moves
    those rows' bounds by −t·a_ij. The basic variables then change by t·Δ with
    Δ = B⁻¹d' (d' on the rows whose logicals are nonbasic; one FTRAN per parameter), and
    a basic logical's own bound moves too. If every basic variable keeps at least
    eps·(|Δ| + |a|) of slack to its finite bounds, the basis is optimal on the whole
    interval (dual feasibility does not depend on the right-hand side), so both finite
    differences over ±eps equal the slope −Σ_i a_ij y_i (y: HiGHS's row duals) and no
    re-solve is needed. Returns (holds, slope) per column of ``D``.
    """
    sol = h.getSolution()
    lo_r, hi_r = _row_bounds(lp["b"], lp["sense"])  # highspy.kHighsInf is np.inf
    rv, y, cv = (np.asarray(v) for v in (sol.row_value, sol.row_dual, sol.col_value))
    lp_ = h.getLp()
    lo_c, hi_c = np.asarray(lp_.col_lower_), np.asarray(lp_.col_upper_)
    _, where = h.getBasicVariables()
    where = np.asarray(where)
    is_col = where >= 0
    idx = np.where(is_col, where, -1 - where)
    value = np.where(is_col, cv[np.where(is_col, idx, 0)], rv[np.where(is_col, 0, idx)])
    lo = np.where(is_col, lo_c[np.where(is_col, idx, 0)], lo_r[np.where(is_col, 0, idx)])
    hi = np.where(is_col, hi_c[np.where(is_col, idx, 0)], hi_r[np.where(is_col, 0, idx)])
    room = np.minimum(value - lo, hi - value)  # inf for free variables
    row_basic = np.zeros(lo_r.size, dtype=bool)
    row_basic[idx[~is_col]] = True
    D = sp.csc_matrix(D)
    holds = np.zeros(D.shape[1], dtype=bool)
    for j in range(D.shape[1]):  # one FTRAN per parameter, not one LP re-solve per side
        col = np.asarray(D[:, j].todense()).ravel()
        if not col.any():
            holds[j] = True
            continue
        _, delta = h.getBasisSolve(np.where(row_basic, 0.0, col))
        own = np.where(is_col, 0.0, np.abs(col[np.where(is_col, 0, idx)]))
        need = eps * (np.abs(np.asarray(delta)) + own)
        scale = np.maximum(1.0, np.abs(value))
        # a degenerate basic variable (no room) may stay put: only movement needs room
        holds[j] = bool(((need <= 1e-12 * scale) | (need <= room - 1e-9 * scale)).all())
    return holds, np.asarray(-(D.T @ y)).ravel()


def label_vector(m: linopy.Model, values: dict[str, xr.DataArray], size: int) -> np.ndarray:
    """Values per variable name scattered into one array indexed by variable label."""
    x = np.zeros(size)
    for name, val in values.items():
        lab = m.variables[name].labels
        v = val.broadcast_like(lab).transpose(*lab.dims).values
        ok = lab.values >= 0
        x[lab.values[ok]] = np.nan_to_num(v[ok])
    return x


def _solution_vector(m: linopy.Model, size: int) -> np.ndarray:
    return label_vector(m, {n: v.solution for n, v in m.variables.items()}, size)


def _csr_parts(A) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return A.indptr[:-1].astype(np.int32), A.indices.astype(np.int32), A.data.astype(float)
