"""Block decomposition of the nested MILP, checked against HiGHS on the whole MILP."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import subcase

import flexnet
from flexnet.bilevel.decompose import (
    _solve,
    blocks_of,
    coupling_rows,
    lagrangian_bound,
    milp_data,
    pattern_master,
    solve_by_blocks,
)
from flexnet.coordination.nested import _pattern, build_nested, kkt_start_vector
from flexnet.solver import new_model


@pytest.fixture(scope="module")
def small():
    """The nested MILP of one DSO × 6 h, its MIP start and its optimum from HiGHS."""
    s = subcase(("DSO1",), 6)
    m, ll, _ = build_nested(s)
    milp = milp_data(m)
    h = _solve(milp.A, milp.row_lower, milp.row_upper, milp.cost, milp.col_lower,
               milp.col_upper, milp.integer, {"mip_rel_gap": 1e-9, "threads": 1})
    assert h.modelStatusToString(h.getModelStatus()) == "Optimal"
    opt = float(h.getInfo().objective_function_value) + milp.const
    return {"milp": milp, "block": blocks_of(m, "snapshot"), "pattern": _pattern(ll, milp),
            "start": kkt_start_vector(s, m, ll), "opt": opt}


def _feasible(milp, x, tol=1e-6) -> bool:
    act = milp.A @ x
    return bool((act >= milp.row_lower - tol * (1 + np.abs(milp.row_lower))).all()
                and (act <= milp.row_upper + tol * (1 + np.abs(milp.row_upper))).all()
                and (x >= milp.col_lower - tol).all() and (x <= milp.col_upper + tol).all()
                and np.allclose(x[milp.integer], np.round(x[milp.integer]), atol=1e-6))


def test_blocks_are_hours_and_only_upper_level_rows_couple_them(small):
    assert set(np.unique(small["block"])) == set(range(6))
    coupling = coupling_rows(small["milp"].A, small["block"])
    assert 0 < coupling.sum() < 0.05 * coupling.size


def test_decomposition_finds_the_milp_optimum_and_a_valid_bound(small):
    out = solve_by_blocks(small["milp"], small["block"], small["pattern"], small["start"],
                          mip_gap=1e-6, max_rounds=4)
    opt = small["opt"]
    assert out.bound <= opt + 1e-6 * abs(opt)            # a lower bound on HiGHS's optimum
    assert out.objective >= opt - 1e-6 * abs(opt)        # a feasible plan cannot beat it
    assert _feasible(small["milp"], out.x)
    assert abs(small["milp"].objective(out.x) - out.objective) <= 1e-9 * abs(opt)
    # on this cut the pattern master reaches the optimum and the bound proves it
    assert out.objective - opt <= 1e-6 * abs(opt)
    assert out.status == "optimal"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lagrangian_bound_holds_for_any_multipliers(small, seed):
    milp, block = small["milp"], small["block"]
    rng = np.random.default_rng(seed)
    coupling = coupling_rows(milp.A, block)
    y = np.where(coupling, rng.normal(0, 50, coupling.size), 0.0)
    y = np.where((y > 0) & ~np.isfinite(milp.row_lower), 0, y)
    y = np.where((y < 0) & ~np.isfinite(milp.row_upper), 0, y)
    bound, x, out = lagrangian_bound(milp, block, y, options={"mip_rel_gap": 1e-9})
    assert bound <= small["opt"] + 1e-6 * abs(small["opt"])
    assert len(out) == 6
    assert all(o["status"] == "optimal" for o in out)


def test_master_solutions_solve_the_whole_milp(small):
    milp, start = small["milp"], small["start"]
    status, x, f = pattern_master(milp, small["block"], small["pattern"], [start])
    assert x is not None
    assert _feasible(milp, x)
    assert f <= milp.objective(start) + 1e-6 * abs(milp.objective(start))


def test_bad_inputs_are_refused(small):
    shifted = small["start"] + 1e3
    with pytest.raises(ValueError, match="start is not feasible"):
        solve_by_blocks(small["milp"], small["block"], small["pattern"], shifted)
    m = new_model()
    m.add_variables(lower=0, name="capacity")
    m.add_objective(1.0 * m.variables["capacity"])
    with pytest.raises(ValueError, match="variable 'capacity' has no 'snapshot' dim"):
        blocks_of(m, "snapshot")


def test_nested_methods_agree_and_are_validated():
    s = subcase(("DSO1",), 6)
    a = flexnet.solve(s, "nested", method="blocks").dataset.attrs
    b = flexnet.solve(s, "nested", method="milp").dataset.attrs
    assert a["nested_method"] == "blocks"
    assert b["nested_method"] == "milp"
    assert abs(a["mip_objective"] - b["mip_objective"]) <= 1e-6 * abs(b["mip_objective"])
    assert a["verify_passed"] == 1
    assert a["bigm_binding"] == 0
    # unset options arrive as None from the CLI
    c = flexnet.solve(s, "nested", mip_gap=None, threads=None, time_limit=None).dataset.attrs
    assert c["nested_method"] == "blocks"
    assert c["status"] == "optimal"
    with pytest.raises(ValueError, match="option 'method' must be one of"):
        flexnet.solve(s, "nested", method="lagrange")
    with pytest.raises(ValueError, match="cannot be used with a hook"):
        flexnet.solve(s, "nested", method="blocks", hook=lambda m: None)


def test_dask_and_serial_blocks_give_identical_plans(small):
    args = (small["milp"], small["block"], small["pattern"], small["start"])
    serial = solve_by_blocks(*args, mip_gap=1e-6, max_rounds=2)
    dask = solve_by_blocks(*args, mip_gap=1e-6, max_rounds=2, parallel=True, workers=2)
    assert np.array_equal(serial.x, dask.x)
    assert serial.bound == dask.bound


def test_lmp_ranges_screened_as_re_solved():
    """The basis screen in marginal_values gives the re-solves' answer on a nested plan."""
    from flexnet.bilevel import lower_level_lp, marginal_values, verify
    from flexnet.coordination.nested import _solve_by_blocks

    s = subcase(("DSO1", "DSO2"), 4)
    m, ll, _ = build_nested(s)
    milp = milp_data(m)
    _solve_by_blocks(s, m, ll, milp, blocks_of(m, "snapshot", milp.vlabels), {"time_limit": 60})
    ranges = []
    for screen in (True, False):
        lp = lower_level_lp(ll)
        verify(ll, lp=lp)
        ranges.append(marginal_values(ll, "Pcc-p", lp=lp, screen=screen))
    for fast, slow in zip(*ranges, strict=True):
        np.testing.assert_allclose(fast.values, slow.values, atol=1e-5)
