"""Interval two-stage algorithm: scenarios, BESS absorbing deviations, dask = serial."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import xarray as xr
from conftest import case, subcase

import flexnet
from flexnet.uncertainty import (
    scenario_profiles,
    solve_interval,
    stage2,
    stage2_batch,
    stage2_lp,
)


def test_scenario_profiles_are_the_interval_extremes(default_case):
    ds = default_case.ds
    hi, lo = scenario_profiles(ds, "high"), scenario_profiles(ds, "low")
    xr.testing.assert_equal(hi["node_p_load"], ds.node_p_load_upper)
    xr.testing.assert_equal(hi["wind_p"], ds.wind_p_lower)
    xr.testing.assert_equal(lo["der_p"], ds.der_p_upper)
    one = scenario_profiles(ds, "high@5")["node_p_load"]
    assert bool((one.isel(snapshot=5) == ds.node_p_load_upper.isel(snapshot=5)).all())
    xr.testing.assert_equal(one.isel(snapshot=4), ds.node_p_load.isel(snapshot=4))
    with pytest.raises(ValueError, match="unknown scenario"):
        scenario_profiles(ds, "medium")


@functools.cache
def stage():
    """The serial interval run on the DSO1 4-hour subcase (shared with test_plot)."""
    return solve_interval(subcase(("DSO1",), 4), parallel=False, max_rounds=1)


@pytest.fixture(scope="module")
def serial():
    return stage()


def test_every_extreme_covered_or_reported(serial):
    ds = serial.dataset
    assert "scenario" in ds.dims
    assert {"high", "low"} <= set(ds.scenario.values)
    unc = ds.scenario_uncovered
    covered = ds.scenario_covered.values.astype(bool)
    assert np.all(unc.max(["snapshot", "dso"]).values[covered] <= 1e-6)
    if (~covered).any():  # reported with hour, DSO and amount
        assert "MW" in ds.attrs["uncovered_report"]
        assert "hour" in ds.attrs["uncovered_report"]
    # DS and TS together: TS shedding in a stage-2 scenario is uncovered too
    ts = float(ds.scenario_ts_shed.max("scenario").sum()) if "scenario_ts_shed" in ds else 0.0
    assert ds.attrs["uncovered_ds_mwh"] == pytest.approx(float(unc.max("scenario").sum()))
    assert ds.attrs["uncovered_ts_mwh"] == pytest.approx(ts)
    assert ds.attrs["uncovered_mwh"] == pytest.approx(ds.attrs["uncovered_ds_mwh"] + ts)
    # and the summary (the CLI's table) says so
    assert float(serial.summary().loc["uncovered_mwh"].iloc[0]) == ds.attrs["uncovered_mwh"]
    # the full table is in the results; the text shows the largest and counts the rest
    assert (ds.uncovered_worst.values > 1e-6).sum() <= ds.attrs["uncovered_entries"]


def test_bess_does_the_work(serial):
    ds = serial.dataset
    plan = ds.storage_p
    moved = np.abs(ds.scenario_storage_p - plan).max(["snapshot", "storage"])
    assert float(moved.max()) > 1e-3  # BESS re-dispatch absorbs deviations
    vmin = ds.scenario_v_min
    dso = serial.system.ds
    assert float(vmin.min()) >= float(dso.dso_v_min.min()) - 1e-6  # voltages still hold


def test_dask_equals_serial(serial):
    par = solve_interval(subcase(("DSO1",), 4), parallel=True, workers=2, max_rounds=1)
    for v in ("scenario_uncovered", "scenario_storage_p", "scenario_v_min"):
        np.testing.assert_allclose(par.dataset[v].values, serial.dataset[v].values, atol=1e-9)


def test_interval_needs_feeders():
    with pytest.raises(flexnet.DataError, match="interval algorithm needs distribution"):
        solve_interval(case("rts24"), parallel=False)


def test_batch_of_bound_changes_equals_scenarios_built_one_by_one(serial):
    """The warm re-solves with mixed bounds reproduce each scenario's own model."""
    system = serial.system
    plan = serial.dataset
    names = ["high@1", "high@3", "high"]
    batch = stage2_batch(names, system.ds, plan, stage2_lp(system, plan, ["high"]))
    for name, got in zip(names, batch, strict=True):
        own = stage2(name, system.ds, plan)
        assert got.attrs["objective"] == pytest.approx(own.attrs["objective"], rel=1e-9), name
        # DS and TS shedding both cost VOLL, so only their total is unique
        total = [float(r.uncovered.sum() + r.ts_shed.sum()) for r in (got, own)]
        assert total[0] == pytest.approx(total[1], abs=1e-6), name


def test_scenario_shift_does_not_depend_on_the_plan(serial):
    """Stage-2 bounds add a plan part and a scenario part, so the shifts are the plan's
    and any other's, and forecast + shift is the extreme's LP built from scratch."""
    from flexnet.solver import PersistentLP
    from flexnet.uncertainty.interval import _build_stage2, _lp_bounds

    system, plan = serial.system, serial.dataset
    other = plan.copy()
    for var, factor in (("gen_p", 0.9), ("der_p", 0.8), ("building_p", 1.1), ("fleet_p", 0.7),
                        ("pcc_flex_up", 1.5), ("gen_r_down", 0.5)):
        if var in other:
            other[var] = plan[var] * factor
    other["pcc_p"] = plan.pcc_p + 0.5
    first, second = (stage2_lp(system, p, ["high", "low"]) for p in (plan, other))
    assert any(np.any(a != b) for a, b in zip(first.lp["bounds"], second.lp["bounds"],
                                             strict=True))  # the second plan moved bounds
    for kind in ("high", "low"):
        for a, b in zip(first.delta[kind], second.delta[kind], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-9)
    # the shifts kept from another plan of the same structure (as repair rounds do)
    kept = stage2_lp(system, other, ["high", "low"], like=first)
    assert set(kept.delta) == {"high", "low"}
    for x, y in zip(kept.lp["bounds"], second.lp["bounds"], strict=True):
        np.testing.assert_array_equal(x, y)
    forecast, high = (PersistentLP(_build_stage2(system, other, scenario_profiles(system.ds, k),
                                                 "angle")) for k in ("forecast", "high"))
    for f, d, got in zip(_lp_bounds(forecast.h), second.delta["high"], _lp_bounds(high.h),
                         strict=True):
        np.testing.assert_allclose(f + d, got, rtol=1e-12, atol=1e-9)



def test_reused_stage1_is_the_centralized_plan():
    """Stage 1 built once with zero-need headroom rows solves like the centralized scheme,
    and a raised need gives the same cost as a model built with that need (the hook)."""
    from flexnet.blocks.common import asset_dso
    from flexnet.uncertainty.interval import _CentralizedStage1, _headroom_hook, aggregate_const

    system = subcase(("DSO1",), 4)
    zero = xr.zeros_like(system.ds.node_p_load.isel(node=0, drop=True)) * xr.DataArray(
        np.zeros(system.n("dso")), coords={"dso": system.ds.dso.values})
    cap = aggregate_const(system.ds.storage_p_max, asset_dso(system, "storage_node"),
                          system.ds.indexes["dso"])
    stage1 = _CentralizedStage1(system, {}, zero, cap)
    first = stage1.solve(zero, zero).dataset.attrs["objective"]
    plain = flexnet.solve(system, "centralized").dataset.attrs["objective"]
    assert first == pytest.approx(plain, rel=1e-9)
    # the BESS idles in this plan; an upward need above its rating makes it charge
    need = zero + 1.05 * float(system.ds.storage_p_max.sum())
    warm = stage1.solve(need, zero).dataset.attrs["objective"]
    built = flexnet.solve(system, "centralized", hook=_headroom_hook(system, need, zero))
    assert warm == pytest.approx(built.dataset.attrs["objective"], rel=1e-9)
    assert warm > first + 1e-6  # the reservation cost something, the same on both paths
    # the rows do bind: more headroom than the BESS can give makes stage 1 infeasible
    with pytest.raises(flexnet.InfeasibleError, match="BESS headroom reserved"):
        stage1.solve(zero + 1e4, zero)


@functools.cache
def oneshot(scenarios: str = "lazy", parallel: bool = False):
    return solve_interval(subcase(("DSO1", "DSO2"), 6), method="oneshot", scenarios=scenarios,
                          parallel=parallel, workers=2 if parallel else None)


def test_oneshot_covers_every_extreme_the_repair_loop_leaves():
    """Stage 1 with every extreme's recourse in one LP: on this subcase the repair loop
    leaves extremes uncovered (its BESS headroom is all it can change); the one-shot plan
    covers them all, at a stated premium over the plain plan."""
    r = oneshot().dataset
    a = r.attrs
    assert a["interval_method"] == "oneshot"
    assert a["uncovered_mwh"] == 0.0
    assert r.scenario_covered.values.all()
    assert r.sizes["scenario"] == 2 + 2 * 6  # every extreme is reported
    assert a["oneshot_check_passed"] == 1  # each extreme solved alone agrees
    assert a["security_premium"] == pytest.approx(a["objective"] - a["unsecured_cost"])
    assert a["security_premium"] >= 0
    repair = solve_interval(subcase(("DSO1", "DSO2"), 6), parallel=False).dataset.attrs
    assert repair["uncovered_mwh"] > 1.0
    assert repair["objective"] <= a["objective"]


def test_oneshot_lazy_scenarios_reach_the_all_scenario_optimum():
    lazy, full = oneshot("lazy").dataset.attrs, oneshot("all").dataset.attrs
    assert full["oneshot_scenarios"] == 14
    assert lazy["oneshot_scenarios"] <= full["oneshot_scenarios"]
    assert lazy["objective"] == pytest.approx(full["objective"], rel=1e-9)


def test_oneshot_serial_and_dask_agree_on_what_is_covered():
    ser, par = oneshot().dataset, oneshot(parallel=True).dataset
    np.testing.assert_array_equal(ser.scenario_covered.values, par.scenario_covered.values)
    assert par.attrs["oneshot_check_passed"] == 1
    assert par.attrs["objective"] == pytest.approx(ser.attrs["objective"], rel=1e-9)


def test_oneshot_plan_checked_by_stage2_built_alone():
    """Independent of the one-shot LP and of the batch re-solves: each all-day extreme
    built as its own model on the secured plan is covered."""
    r = oneshot()
    for name in ("high", "low"):
        own = stage2(name, r.system.ds, r.dataset)
        assert float(own.uncovered.sum() + own.ts_shed.sum()) <= 1e-6, name


def test_oneshot_covers_the_default_case():
    a = solve_interval(case(flexnet.DEFAULT_CASE), method="oneshot").dataset.attrs
    assert a["uncovered_mwh"] == 0.0
    assert a["oneshot_check_passed"] == 1
    assert 0 < a["security_premium"] < 0.02 * a["unsecured_cost"]


def test_interval_options_are_checked():
    with pytest.raises(ValueError, match="method"):
        solve_interval(subcase(("DSO1",), 2), method="robust")
    with pytest.raises(flexnet.DataError, match="oneshot"):
        solve_interval(subcase(("DSO1",), 2), method="oneshot", scheme="nested")
    with pytest.raises(flexnet.OptionError, match="oneshot.*lazy"):
        solve_interval(subcase(("DSO1",), 2), method="oneshot", formulation="lazy")


@functools.cache
def congested():
    """The DSO1 4-hour subcase with every TS line at 40 % of its rating."""
    ds = subcase(("DSO1",), 4).ds.copy()
    ds["line_s_max"] = 0.4 * ds.line_s_max
    return flexnet.System(ds)


def test_lazy_stage2_scenarios_reach_the_full_network_optimum():
    """Stage 2 with lazy line rows: each extreme's optimum is the angle model's, with
    rows added in place where a scenario overloads a line the plan does not bind."""
    from flexnet.uncertainty.interval import _stage2, all_extremes

    system = congested()
    plan = flexnet.solve(system, "centralized", formulation="angle").dataset
    names = all_extremes(system)
    full, _, _ = _stage2(system, plan, names, "angle", None, None, None, "angle")
    lazy, lp, lines = _stage2(system, plan, names, "lazy", None, None, None, "lazy")
    binding = int((plan.line_loading >= 1 - 1e-6).any("snapshot").sum())
    assert lp.lines.size == binding  # the LP monitors the plan's binding lines ...
    assert binding < lines.size < system.n("line")  # ... and a batch added another
    assert set(lp.lines) < set(lines)
    for name, a, b in zip(names, full, lazy, strict=True):
        assert b.attrs["objective"] == pytest.approx(a.attrs["objective"], rel=1e-9), name
        # DS and TS shedding both cost VOLL, so only their total is unique
        total = [float(r.uncovered.sum() + r.ts_shed.sum()) for r in (a, b)]
        assert total[1] == pytest.approx(total[0], abs=1e-6), name


def test_lazy_interval_equals_angle():
    """The repair rounds with lazy line rows in stage 1 and stage 2 give the angle run's
    plan cost, prices and scenarios, serially and on dask alike."""
    system = congested()
    angle, lazy = (solve_interval(system, parallel=False, max_rounds=1, formulation=f).dataset
                   for f in ("angle", "lazy"))
    assert lazy.attrs["formulation"] == "lazy"
    assert lazy.attrs["objective"] == pytest.approx(angle.attrs["objective"], rel=1e-9)
    assert float(abs(lazy.bus_lmp - angle.bus_lmp).max()) < 1e-6
    assert list(lazy.scenario.values) == list(angle.scenario.values)
    assert lazy.attrs["interval_rounds"] == angle.attrs["interval_rounds"]
    assert 0 < lazy.attrs["monitored_lines"] <= lazy.attrs["stage2_monitored_lines"]
    assert float(lazy.line_loading.max()) <= 1 + 1e-6
    # the batches add their line rows on the workers just as serially
    par = solve_interval(system, workers=2, max_rounds=1, formulation="lazy").dataset
    np.testing.assert_array_equal(par.scenario_uncovered.values, lazy.scenario_uncovered.values)
