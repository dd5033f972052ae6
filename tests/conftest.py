"""Shared fixtures: shipped cases and solved results, cached per test session."""

from __future__ import annotations

import functools

import pytest

import flexnet


@functools.cache
def case(name: str) -> flexnet.System:
    return flexnet.load_case(name)


@functools.cache
def solved(name: str, scheme: str, formulation: str = "angle") -> flexnet.Result:
    return flexnet.solve(case(name), scheme, formulation=formulation)


@pytest.fixture
def default_case() -> flexnet.System:
    return case(flexnet.DEFAULT_CASE)


@pytest.fixture
def default_centralized() -> flexnet.Result:
    return solved(flexnet.DEFAULT_CASE, "centralized")


@pytest.fixture
def default_sequential() -> flexnet.Result:
    return solved(flexnet.DEFAULT_CASE, "sequential")


from flexnet.grid.assets import DATASETS  # noqa: E402

CASE_DIR = DATASETS / "matpower"


@functools.cache
def subcase(dsos: tuple[str, ...] = ("DSO1",), hours: int = 6) -> flexnet.System:
    """The default case cut down to some DSOs and the first hours (for MILP-heavy tests)."""
    return case(flexnet.DEFAULT_CASE).select(list(dsos), hours,
                                             name=f"default-{'-'.join(dsos)}-{hours}h")


def lmp_range(system: flexnet.System, at: list[tuple[int, str]], eps: float = 1e-3):
    """The range of optimal LMPs at (snapshot position, bus) pairs of ``system``'s
    centralized angle model: the one-sided derivatives of the optimal cost in the demand
    at that bus, by warm re-solves with the demand moved by ±``eps`` MW.

    Every price in ``[low, high]`` is an optimal dual of the balance row (LP sensitivity),
    so a test checks that a price lies in it instead of comparing two solvers' vertices.
    Returns two arrays ``(low, high)`` in the order of ``at``.
    """
    import numpy as np

    from flexnet.coordination.centralized import build_centralized
    from flexnet.solver import PersistentLP

    m = build_centralized(system, "angle")
    lp = PersistentLP(m)
    assert lp.run() == "optimal"
    f0 = lp.base_objective()
    rows = lp.rows("Bus-balance").reshape(system.n("snapshot"), -1)
    buses = list(system.ds.bus.values)
    rhs = lp.h.getLp().row_lower_
    out = np.empty((2, len(at)))
    for k, (t, bus) in enumerate(at):
        row = rows[t, buses.index(bus)]
        for side, step in enumerate((-eps, eps)):
            lp.set_rhs(np.array([row]), np.array([rhs[row] + step]))
            assert lp.run() == "optimal"
            out[side, k] = (lp.base_objective() - f0) / step
        lp.set_rhs(np.array([row]), np.array([rhs[row]]))
    return np.minimum(out[0], out[1]), np.maximum(out[0], out[1])


def lagrangian_gap(lp, y, x_opt_objective: float, tol: float = 1e-7) -> float:
    """Relative gap between the optimum and the Lagrangian dual function at row duals ``y``
    (HiGHS's sign convention) of ``lp``'s HiGHS model: zero exactly when ``y`` is an
    optimal dual vector, whichever vertex a solver picked.

    g(y) = Σ_i (y_i > 0 ? y_i·lower_i : y_i·upper_i) + Σ_j min over the column's bounds of
    (c_j − (Aᵀy)_j)·x_j (without the objective's constant).
    """
    import numpy as np
    import scipy.sparse as sp

    q = lp.h.getLp()
    a = q.a_matrix_
    A = sp.csc_matrix((a.value_, a.index_, a.start_), shape=(q.num_row_, q.num_col_))
    rl, ru = np.asarray(q.row_lower_), np.asarray(q.row_upper_)
    cl, cu = np.asarray(q.col_lower_), np.asarray(q.col_upper_)
    y = np.where(np.abs(y) < tol, 0.0, y)
    # np.where evaluates both branches: the 0·inf products it masks out must not warn
    with np.errstate(invalid="ignore"):
        return _lagrangian_gap(A, y, rl, ru, cl, cu, np.asarray(q.col_cost_), tol,
                               float(q.offset_), x_opt_objective)


def _lagrangian_gap(A, y, rl, ru, cl, cu, c, tol, offset, f):
    import numpy as np

    rows = np.where(y > 0, y * np.where(np.isfinite(rl), rl, np.inf),
                    np.where(y < 0, y * np.where(np.isfinite(ru), ru, -np.inf), 0.0))
    d = c - A.T @ y
    d = np.where(np.abs(d) < tol, 0.0, d)
    cols = np.where(d > 0, d * np.where(np.isfinite(cl), cl, -np.inf),
                    np.where(d < 0, d * np.where(np.isfinite(cu), cu, np.inf), 0.0))
    g = float(rows.sum() + cols.sum()) + offset
    return abs(g - f) / max(1.0, abs(f))
