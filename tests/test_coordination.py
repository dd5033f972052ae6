"""Schemes end to end: every shipped case, centralized vs sequential, errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import case, solved

import flexnet


@pytest.mark.parametrize("scheme", ["centralized", "sequential"])
@pytest.mark.parametrize("name", ["ieee33", "ieee69", "rts24", "ieee118", "rts24-dso"])
def test_every_case_solves(name, scheme):
    r = solved(name, scheme)
    assert r.dataset.attrs["status"] == "optimal"
    assert r.dataset.attrs["scheme"] == scheme
    for v in r.dataset.data_vars:
        assert np.isfinite(r[v].values).all(), v
    # the summary's total is recomputed from the solution; it must match the objective
    assert r.dataset.attrs["total_cost"] == pytest.approx(r.dataset.attrs["objective"], rel=1e-6)


def test_feeder_only_uses_case_pcc_price():
    s = case("ieee33")
    r = solved("ieee33", "centralized")
    expected = float((s.ds.pcc_price * r["pcc_p"]).sum())
    assert r.dataset.attrs["energy_market_cost"] == pytest.approx(expected)


def test_centralized_beats_sequential(default_centralized, default_sequential):
    c, s = default_centralized.dataset.attrs, default_sequential.dataset.attrs
    assert c["total_cost"] <= s["total_cost"] * (1 + 1e-9)
    # the sequential DSOs had to repair their schedule on the balancing market
    assert s["pcc_deviation_mwh"] > 0
    assert s["balancing_cost"] > 0
    # and the DSOs' flexibility was not offered to the TSO
    assert float(default_sequential["pcc_flex_up"].sum()) == 0.0 \
        if "pcc_flex_up" in default_sequential.dataset else True
    assert float(default_centralized["pcc_flex_up"].sum()) > 0


def test_compare_table(default_case):
    t = flexnet.compare(default_case, ["sequential", "centralized"])
    assert list(t.columns) == ["sequential", "centralized"]
    for row in ("total_cost", "congested_line_hours", "min_voltage_pu", "voltage_violations",
                "branch_overloads", "flexibility_market_cost", "dr_reward_payments"):
        assert row in t.index


def test_lmps_and_flex_prices(default_centralized):
    r = default_centralized
    assert {"bus_lmp", "node_dlmp", "flex_price_up", "flex_price_down"} <= set(r.dataset)
    assert float(r["flex_price_up"].min()) >= -1e-9
    # DLMP at a root equals the LMP of its PCC bus (lossless transformer)
    ds = r.system.ds
    roots = r["node_dlmp"].sel(node=ds.dso_root.values).values
    pcc = r["bus_lmp"].sel(bus=ds.dso_bus.values).values
    slack_ok = ds.dso_s_max.values[None, :] * 0.9 > np.abs(r["pcc_p"].values)
    np.testing.assert_allclose(roots[slack_ok], pcc[slack_ok], rtol=1e-6, atol=1e-6)


def test_stressed_case_sheds_instead_of_failing():
    s = case("rts24").copy()
    s.ds["load_p"] = s.ds.load_p * 1.3  # beyond generation capacity at peak
    r = flexnet.solve(s, "centralized")
    assert r.dataset.attrs["shed_energy_mwh"] > 0
    assert float(r["bus_lmp"].max()) == pytest.approx(s.ds.attrs["voll"], rel=1e-6)


def test_infeasible_names_the_cause():
    s = case("rts24").copy()
    s.ds["fr_up"] = s.ds.fr_up * 0 + 5000.0  # more reserve than the fleet can hold
    with pytest.raises(flexnet.InfeasibleError) as e:
        flexnet.solve(s, "centralized")
    msg = str(e.value)
    assert "scheme=centralized" in msg
    assert "fr_up" in msg
    assert "snapshot 0" in msg


def test_infeasible_building_comfort():
    s = case(flexnet.DEFAULT_CASE).copy()
    s.ds["building_hvac_max"] = s.ds.building_hvac_max * 0.01
    with pytest.raises(flexnet.InfeasibleError, match="building 'SB0' cannot be heated"):
        flexnet.solve(s, "centralized")


def test_unknown_scheme():
    with pytest.raises(flexnet.DataError, match="unknown scheme 'magic'"):
        flexnet.solve("rts24", "magic")


def test_time_limit_is_a_clear_status():
    with pytest.raises(flexnet.SolverError, match="time limit"):
        flexnet.solve(case("ieee118"), "centralized", time_limit=1e-6)


def test_drp_reward_follows_flexibility_requirement(default_case):
    from flexnet.blocks.drp import drp_reward

    rho = drp_reward(default_case)
    fr = default_case.ds.fr_up
    order = np.argsort(fr.values)
    assert np.all(np.diff(rho.values[order]) >= -1e-12)  # monotone in FR
    assert float(rho.max()) == default_case.ds.attrs["drp_reward_max"]
    custom = drp_reward(default_case, mapping=lambda f, lo, hi: lo + 0 * f)
    assert float(custom.max()) == default_case.ds.attrs["drp_reward_min"]


def test_midday_cut_ends_fleets_at_what_connected_evs_hold(default_case):
    """Cut at 12 h, few EVs are plugged in at the last hour: the fleets end with their
    initial energy or, where less fits, full (before, the cut case was infeasible)."""
    s = default_case.select(hours=12)
    ds = s.ds
    last = ds.snapshot.values[-1]
    cap = (ds.fleet_connected * ds.fleet_e_ev).sel(snapshot=last)
    assert bool((cap < ds.fleet_e_init).any())  # the case this test is about
    r = flexnet.solve(s, "centralized")
    end = r["fleet_energy"].sel(snapshot=last)
    np.testing.assert_array_less(np.minimum(ds.fleet_e_init, cap) - 1e-6, end.values)
    np.testing.assert_array_less(end.values, cap.values + 1e-6)


def test_sequential_repair_cost_is_on_one_price_basis(default_sequential):
    """repair_cost compares the real grids with a copper plate under the same balancing
    market, so it is what the grid limits cost: never negative."""
    a = default_sequential.dataset.attrs
    assert a["repair_cost"] >= -1e-6
    assert np.isfinite(a["reoptimisation_gain"])
