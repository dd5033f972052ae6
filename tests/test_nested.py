"""Nested scheme: single-level MILP from the generic engine, verified against the TSO LP."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from conftest import case, subcase

import flexnet
from flexnet.checks import residuals
from flexnet.coordination.nested import build_nested, kkt_start_vector


@pytest.fixture(scope="module")
def nested_small():
    return flexnet.solve(subcase(("DSO1",), 6), "nested")


def test_lower_level_verified(nested_small):
    a = nested_small.dataset.attrs
    assert a["status"] == "optimal"
    assert a["verify_passed"] == 1
    assert a["verify_objective_gap"] <= 1e-6        # TSO cost = TSO LP re-solved alone
    assert a["verify_dual_objective_gap"] <= 1e-6   # the KKT prices are optimal TSO duals
    assert a["verify_lmp_gap_pcc"] <= 1e-6          # LMPs at the PCC buses agree where unique
    assert a["verify_lmp_outside_pcc"] <= 1e-6      # and lie in the TSO's optimal-dual range
    assert a["bigm_binding"] == 0
    assert a["binaries"] > 0
    # solved to optimality: the bound HiGHS proved meets the upper level's objective
    assert abs(a["mip_objective"] - a["mip_dual_bound"]) <= 1e-4 * abs(a["mip_objective"])


def test_prices_and_residuals(nested_small):
    ds = nested_small.dataset
    assert {"bus_lmp", "flex_price_up", "flex_price_down", "pcc_p", "node_v"} <= set(ds)
    # the TSO's LMP range at each PCC bus holds the single level's LMP
    lmp = ds.bus_lmp.sel(bus=subcase(("DSO1",), 6).ds.dso_bus).drop_vars("bus")
    assert ds.pcc_lmp_low.dims == ("snapshot", "dso")
    assert ((ds.pcc_lmp_low - 1e-6 <= lmp) & (lmp <= ds.pcc_lmp_high + 1e-6)).all()
    assert float(ds.flex_price_up.min()) >= -1e-9
    res = residuals(nested_small)
    assert max(res.values()) < 1e-6, res


def test_not_cheaper_than_the_joint_optimum(nested_small):
    central = flexnet.solve(subcase(("DSO1",), 6), "centralized").dataset.attrs["total_cost"]
    assert nested_small.dataset.attrs["total_cost"] >= central * (1 - 1e-6)


def test_needs_ts_and_dsos():
    with pytest.raises(flexnet.DataError, match="nested scheme needs a transmission system"):
        flexnet.solve(case("ieee33"), "nested")


@pytest.mark.slow
def test_two_dsos_four_hours():
    r = flexnet.solve(subcase(("DSO1", "DSO2"), 4), "nested")
    assert r.dataset.attrs["verify_passed"] == 1
    assert r.dataset.attrs["bigm_binding"] == 0


def test_default_case_verifies():
    """Issue 4 on the full default case (4 DSOs, 24 h, 5,904 binaries), by the hourly
    decomposition: within 0.1 % of a proven bound, better for the DSOs than the
    centralized plan (the MIP start, which HiGHS on the whole MILP does not improve in
    600 s), and the TSO LP re-solved alone agrees."""
    s = case(flexnet.DEFAULT_CASE)
    r = flexnet.solve(s, "nested", time_limit=120)
    a = r.dataset.attrs
    assert a["nested_method"] == "blocks"
    assert a["status"] == "optimal"
    assert a["mip_dual_bound"] <= a["mip_objective"]
    assert a["mip_gap"] <= 1e-3
    m, ll, _ = build_nested(s)
    start = float(m.matrices.c @ kkt_start_vector(s, m, ll))
    assert a["mip_objective"] < start * (1 - 0.01)     # the DSOs pay > 1 % less
    assert a["verify_passed"] == 1
    assert a["verify_objective_gap"] <= 1e-6
    assert a["verify_lmp_gap_pcc"] <= 1e-6        # equal where the TSO's LMP is unique
    assert a["verify_lmp_outside_pcc"] <= 1e-6    # and within its range where it is not
    assert a["bigm_binding"] == 0


def test_ramps_binding_for_some_generators():
    """Ramp limits below P̄ − P̲ for every other generator: ramp rows and finite reserve
    bounds exist for those only (the others are implied and not built), so the lower
    level lifts partly infinite bounds; the plan must still verify."""
    s = subcase(("DSO1",), 6)
    ds = s.ds.copy()
    tight = xr.DataArray(np.arange(s.n("gen")) % 2 == 0, coords={"gen": ds.gen})
    ds["gen_ramp"] = ds.gen_ramp.where(~tight, 0.3 * ds.gen_ramp)
    tight_system = flexnet.System(ds)
    r = flexnet.solve(tight_system, "nested", time_limit=60)
    a = r.dataset.attrs
    assert a["verify_passed"] == 1
    assert a["bigm_binding"] == 0
    central = flexnet.solve(tight_system, "centralized").dataset.attrs["total_cost"]
    assert a["total_cost"] >= central * (1 - 1e-6)


def test_dso_payment_range_over_all_optimal_tso_prices():
    """Where the TSO's optimal duals are not unique, the DSOs' payment depends on which is
    published: the result states the range (one-sided derivatives of the TSO's optimal cost
    along the DSOs' own exchange), and the KKT single level sits at its low end (the
    optimistic bilevel convention)."""
    a = flexnet.solve(subcase(("DSO1", "DSO2"), 6), "nested", progress=False).dataset.attrs
    lo, pay, hi = a["dso_payment_min"], a["dso_payment"], a["dso_payment_max"]
    tol = 1e-6 * max(1.0, abs(pay))
    assert lo - tol <= pay <= hi + tol
    assert pay == pytest.approx(lo, rel=1e-6)
    assert hi > lo + 1.0  # not unique on this subcase: 324.5 to 418.2 $


def test_pessimistic_pricing_keeps_the_plan_off_the_price_kinks():
    """``pricing="pessimistic"``: the plan is priced at the top of its payment range; the
    returned plan costs the DSOs no more than the optimistic plan priced that way, and no
    less than the optimistic bound (the pessimistic infimum lies between)."""
    s = subcase(("DSO1", "DSO2"), 6)
    a = flexnet.solve(s, "nested", progress=False, pricing="pessimistic").dataset.attrs
    assert a["pricing"] == "pessimistic"
    assert a["verify_passed"] == 1
    assert a["dso_payment"] == a["dso_payment_max"]
    tol = 1e-6 * abs(a["pessimistic_bound"])
    assert a["pessimistic_bound"] - tol <= a["dso_cost_priced"] <= a["dso_cost_optimistic_plan"]
    # on this subcase the optimistic plan sits on a kink (324.5 to 418.2 $): kept off it,
    # the DSOs pay the low price for the same cost
    assert a["dso_cost_priced"] < a["dso_cost_optimistic_plan"] - 50
    assert a["dso_cost_priced"] == pytest.approx(a["pessimistic_bound"], rel=1e-6)
    with pytest.raises(ValueError, match="pricing"):
        flexnet.solve(s, "nested", pricing="worst")


@pytest.mark.slow
def test_pessimistic_pricing_on_the_default_case():
    """About 143 s: the pessimistic plan on the default case, priced at its worst, costs the
    DSOs less than the optimistic plan priced at its worst."""
    a = flexnet.solve(case(flexnet.DEFAULT_CASE), "nested", progress=False,
                      pricing="pessimistic").dataset.attrs
    assert a["verify_passed"] == 1
    assert a["dso_cost_priced"] < a["dso_cost_optimistic_plan"]
    assert a["dso_cost_priced"] >= a["pessimistic_bound"] * (1 - 1e-6)


def test_lazy_line_limits_reach_the_same_bilevel_optimum():
    """Lazy lower level (only monitored lines get KKT rows and binaries): the same verified
    optimum as the whole PTDF lower level, with fewer binaries, and no line overloaded."""
    s = subcase(("DSO1", "DSO2"), 6)
    full = flexnet.solve(s, "nested", formulation="ptdf", progress=False).dataset.attrs
    r = flexnet.solve(s, "nested", formulation="lazy", progress=False)
    lazy = r.dataset.attrs
    assert lazy["objective"] == pytest.approx(full["objective"], rel=1e-9)
    assert lazy["verify_passed"] == 1
    assert lazy["binaries"] < full["binaries"]
    assert lazy["monitored_lines"] < s.n("line")
    assert float(r["line_loading"].max()) <= 1 + 1e-6
