"""The generic KKT engine against independent oracles.

- HiGHS's own duals and ``linopy.Model.dualize()`` on 24 random small LPs, with and
  without upper-level parameters in the rows;
- a published linear bilevel instance with a known optimum (Bard 1998).
"""

from __future__ import annotations

import linopy
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from flexnet.bilevel import (
    add_kkt,
    bilinear_value,
    binding_bigms,
    declare_lower_level,
    lower_level_lp,
    marginal_values,
    verify,
)
from flexnet.bilevel.engine import _basis_holds
from flexnet.errors import DataError


def random_lp(seed: int, with_param: bool):
    """min cᵀy s.t. mixed ≤/≥/= rows around a feasible point, 0 ≤ y ≤ 10; p fixed."""
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(3, 7)), int(rng.integers(3, 7))
    i, j = pd.RangeIndex(n, name="j"), pd.RangeIndex(k, name="i")
    A = xr.DataArray(rng.normal(size=(k, n)).round(3), coords=[j, i])
    y0 = xr.DataArray(rng.uniform(1, 9, n), coords=[i])
    B = xr.DataArray(rng.normal(size=k).round(3), coords=[j]) if with_param else 0 * y0.sum()
    p0 = float(rng.uniform(-2, 2)) if with_param else 0.0
    sense = rng.choice(["<=", ">=", "="], size=k, p=[0.45, 0.45, 0.10])
    slack = rng.uniform(0.5, 3, k)
    act = (A * y0).sum("j") + B * p0
    rhs = act.values + np.where(sense == "<=", slack, np.where(sense == ">=", -slack, 0))
    c = xr.DataArray(rng.normal(size=n).round(3), coords=[i])

    def build():
        m = linopy.Model(force_dim_names=True)
        y = m.add_variables(lower=0, upper=10, coords=[i], name="y")
        p = m.add_variables(lower=p0, upper=p0, name="p")
        names = []
        for r in range(k):
            lhs = (A.isel(i=r, drop=True) * y).sum() + (float(B.isel(i=r)) if with_param else 0.0) * p
            con = {"<=": lhs <= rhs[r], ">=": lhs >= rhs[r], "=": lhs == rhs[r]}[sense[r]]
            m.add_constraints(con, name=f"c{r}")
            names.append(f"c{r}")
        return m, y, p, names

    return build, c


@pytest.mark.parametrize("with_param", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_kkt_matches_highs_and_dualize(seed, with_param):
    build, c = random_lp(seed, with_param)
    # 1. plain LP: HiGHS duals
    m, y, p, names = build()
    m.add_objective((c * y).sum())
    m.solve(solver_name="highs", io_api="direct", output_flag=False)
    obj = m.objective.value
    highs = {n: float(m.constraints[n].dual) for n in names}
    # 2. linopy's own dual model (bounds lifted) at the same parameter
    d = m.dualize()
    d.solve(solver_name="highs", io_api="direct", output_flag=False)
    assert d.objective.value == pytest.approx(obj, rel=1e-6, abs=1e-6)
    # 3. the engine: KKT system with Big-M, solved as a feasibility MILP
    m2, y2, p2, names2 = build()
    ll = declare_lower_level(m2, names2, ["y"], (c * y2).sum())
    add_kkt(ll, default_dual_bound=1e3)
    m2.add_objective(0 * y2.sum())
    status, _ = m2.solve(solver_name="highs", io_api="direct", output_flag=False)
    assert status == "ok"
    assert float((c * y2.solution).sum()) == pytest.approx(obj, rel=1e-6, abs=1e-6)
    for n in names:
        kkt = float(ll.duals[n].solution)
        assert kkt == pytest.approx(highs[n], abs=1e-6)
        assert kkt == pytest.approx(float(d.variables[n].solution), abs=1e-6)
    # strong duality: Σ μ_i b_i p = μᵀr − cᵀy at the KKT point
    bil = float(bilinear_value(ll).solution.sum())
    assert bil == pytest.approx(sum(float(ll.duals[n].solution) * float(
        m2.constraints[n].lhs.coeffs.where(m2.constraints[n].lhs.vars == p2.labels, 0).sum())
        * float(p2.solution) for n in names), abs=1e-6)
    assert binding_bigms(ll).empty
    assert verify(ll)["passed"]


def test_bard_1998_example():
    """Bard (1998), *Practical Bilevel Optimization*, Example 5.1.1 (also Bard & Falk 1982):
    min_x x − 4y s.t. y ∈ argmin{y : −x − y ≤ −3, −2x + y ≤ 0, 2x + y ≤ 12, 3x − 2y ≤ 4},
    x ≥ 0. Known optimum (x, y) = (4, 4), F = −12.
    """
    m = linopy.Model()
    x = m.add_variables(lower=0, upper=10, name="x")
    y = m.add_variables(lower=0, upper=10, name="y")
    for name, con in (("c1", -x - y <= -3), ("c2", -2 * x + y <= 0), ("c3", 2 * x + y <= 12),
                      ("c4", 3 * x - 2 * y <= 4)):
        m.add_constraints(con, name=name)
    ll = declare_lower_level(m, ["c1", "c2", "c3", "c4"], ["y"], 1.0 * y)
    add_kkt(ll, default_dual_bound=100.0)
    m.add_objective(x - 4 * y)
    m.solve(solver_name="highs", io_api="direct", output_flag=False)
    assert float(x.solution) == pytest.approx(4.0)
    assert float(y.solution) == pytest.approx(4.0)
    assert m.objective.value == pytest.approx(-12.0)
    assert binding_bigms(ll).empty
    assert verify(ll)["objective_gap"] < 1e-9


def test_missing_bigm_is_a_clear_error():
    m = linopy.Model()
    y = m.add_variables(lower=0, name="y")  # unbounded above
    m.add_constraints(y >= 1, name="c")
    ll = declare_lower_level(m, ["c"], ["y"], 1.0 * y)
    with pytest.raises(DataError, match="dual bound"):
        add_kkt(ll)
    with pytest.raises(DataError, match="slack Big-M of constraint 'c'"):
        add_kkt(ll, default_dual_bound=10.0)


def test_binding_bigm_is_reported():
    m = linopy.Model()
    y = m.add_variables(lower=0, upper=5, name="y")
    m.add_constraints(y >= 2, name="c")
    ll = declare_lower_level(m, ["c"], ["y"], 50.0 * y)  # the true dual is 50
    add_kkt(ll, dual_bounds={"c": 10.0}, default_dual_bound=100.0)
    m.add_objective(0 * y)
    status, _ = m.solve(solver_name="highs", io_api="direct", output_flag=False)
    # with M_D = 10 < 50 the KKT system is either infeasible or reports a binding bound
    assert status != "ok" or not binding_bigms(ll).empty


def test_marginal_values_bracket_the_price_at_a_kink():
    """Merit order: 5 MW at 10 $/MWh, then 10 MW at 30 $/MWh. At a demand of exactly 5 MW
    the price is not unique: any value in [10, 30] is an optimal dual of the balance."""
    m = linopy.Model()
    hours = pd.RangeIndex(3, name="hour")
    d = m.add_variables(lower=0, upper=20, coords=[hours], name="d")
    g1 = m.add_variables(lower=-50, upper=50, coords=[hours], name="g1")  # loose: Big-M data
    g2 = m.add_variables(lower=-50, upper=50, coords=[hours], name="g2")
    m.add_constraints(d == xr.DataArray([2.0, 5.0, 8.0], coords=[hours]), name="demand")
    names = {"bal": g1 + g2 == d, "g1-max": g1 <= 5, "g2-max": g2 <= 10, "g1-min": g1 >= 0,
             "g2-min": g2 >= 0}
    for name, con in names.items():
        m.add_constraints(con, name=name)
    ll = declare_lower_level(m, list(names), ["g1", "g2"], (10 * g1 + 30 * g2).sum())
    add_kkt(ll, default_dual_bound=100.0)
    m.add_objective(0 * d.sum())
    m.solve(solver_name="highs", io_api="direct", output_flag=False)
    low, high = marginal_values(ll, "d")
    np.testing.assert_allclose(low.values, [10, 10, 30], atol=1e-6)
    np.testing.assert_allclose(high.values, [10, 30, 30], atol=1e-6)
    assert low.dims == ("hour",)
    price = ll.duals["bal"].solution.values  # the single level's price, one optimal dual
    assert ((price >= low.values - 1e-6) & (price <= high.values + 1e-6)).all()
    # the basis screen skips the re-solves at hours 0 and 2 only, with the same answer
    lp = lower_level_lp(ll)
    lp["h"].run()
    col = {label: j for j, label in enumerate(lp["vl"])}
    cols = [col[label] for label in m.variables["d"].labels.values]
    holds, slope = _basis_holds(lp["h"], lp, lp["sub"].tocsc()[:, cols], 1e-3)
    assert holds.tolist() == [True, False, True]
    np.testing.assert_allclose(slope[[0, 2]], [10, 30])
    slow_low, slow_high = marginal_values(ll, "d", screen=False)
    np.testing.assert_allclose(slow_low.values, low.values, atol=1e-9)
    np.testing.assert_allclose(slow_high.values, high.values, atol=1e-9)


def test_partly_infinite_bounds_are_lifted_where_finite():
    """A lower-level variable bounded above for some entries only (as generator reserves
    are when the ramp limit is implied): only the finite bounds become rows, and the KKT
    system gives HiGHS's own optimum and duals."""
    m = linopy.Model()
    i = pd.RangeIndex(3, name="i")
    y = m.add_variables(lower=0, upper=xr.DataArray([4.0, np.inf, 6.0], coords=[i]),
                        coords=[i], name="y")
    m.add_constraints(y.sum() >= 12, name="demand")
    m.add_constraints(y <= 20, name="cap")  # keeps y[1] bounded for the Big-M data
    cost = xr.DataArray([1.0, 3.0, 2.0], coords=[i])
    ll = declare_lower_level(m, ["demand", "cap"], ["y"], (cost * y).sum())
    assert "y-bound-upper" in ll.constraints
    lifted = m.constraints["y-bound-upper"].labels.values
    assert (lifted >= 0).tolist() == [True, False, True]
    # demand's slack: Σy − 12 ≤ 4 + 20 + 6 − 12 (y[1] ≤ 20 through "cap", not its bound)
    add_kkt(ll, default_dual_bound=100.0, primal_bounds={"demand": 18.0, "y-bound-lower": 20.0},
            primal_bounds_exact=True)
    m.add_objective(0 * y.sum())
    status, _ = m.solve(solver_name="highs", io_api="direct", output_flag=False)
    assert status == "ok"
    # cheapest first: 4 at 1, 6 at 2, the last 2 at 3 $/unit → cost 22, demand price 3
    np.testing.assert_allclose(y.solution.values, [4, 2, 6], atol=1e-6)
    np.testing.assert_allclose(float(ll.duals["demand"].solution), 3.0, atol=1e-6)
    check = verify(ll)
    assert check["passed"]
    assert check["objective_alone"] == pytest.approx(22.0)
