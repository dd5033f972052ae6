"""SimBench importer: DC flows equal pandapower's rundcpp on the EHV grid, feeder voltages
are within 0.01 p.u. of pandapower's AC power flow, and any day of 2016 solves."""

from __future__ import annotations

import numpy as np
import pytest

import flexnet

sb = pytest.importorskip("simbench")
pp = pytest.importorskip("pandapower")

pytestmark = pytest.mark.filterwarnings("ignore")  # pandapower's numba and pandas chatter


@pytest.fixture(scope="module")
def ehv_hour():
    """The EHV grid at noon of 2016-01-15, as SimBench's own absolute values."""
    from flexnet.grid.simbench import DEFAULT_EHV, _absolute, day_profiles

    net = sb.get_simbench_net(DEFAULT_EHV)
    prof = day_profiles(net, "2016-01-15")
    h = 12
    net.load["p_mw"] = _absolute(net.load, prof["load"], "_pload").iloc[h].to_numpy()
    net.load["q_mvar"] = 0.0
    net.sgen["p_mw"] = _absolute(net.sgen, prof["renewables"], kind="sgen").iloc[h].to_numpy()
    net.gen["p_mw"] = _absolute(net.gen, prof["powerplants"], kind="gen").iloc[h].to_numpy()
    return net


def test_ehv_dc_flows_equal_pandapower_rundcpp(ehv_hour):
    """Switch fusion (3,085 → 571 buses) and open line switches keep the DC physics:
    flexnet's PTDF flows at pandapower's injections equal rundcpp on the unfused net."""
    import xarray as xr

    from flexnet.blocks.network_ts import line_flows_ptdf
    from flexnet.grid.pandapower import _switch_topology, ts_from_pandapower

    net = ehv_hour
    # one slack: pandapower fixes the angle of every ext_grid, flexnet balances at one bus
    eg = net.ext_grid
    for i in eg.index[1:]:
        pp.create_gen(net, eg.bus[i], p_mw=float(eg.max_p_mw[i]), vm_pu=float(eg.vm_pu[i]),
                      max_p_mw=float(eg.max_p_mw[i]))
        net.ext_grid.loc[i, "in_service"] = False
    pp.rundcpp(net)
    ts = ts_from_pandapower(net)
    assert ts.sizes["bus"] == 571
    s = flexnet.System(ts.assign_attrs(name="sb"))
    rep, _, _ = _switch_topology(net)
    inj = (-net.res_bus.p_mw).groupby(rep.to_numpy()).sum()  # generation positive
    inj = xr.DataArray(inj.reindex(s.ds.bus.values.astype(int)).to_numpy()[None, :],
                       coords=[[0], s.ds.bus.values], dims=["snapshot", "bus"])
    flows = line_flows_ptdf(s, inj).isel(snapshot=0).to_series()
    ref = np.r_[net.res_line.p_from_mw.reindex([int(i[1:]) for i in flows.index if i[0] == "L"]),
                net.res_trafo.p_hv_mw.reindex([int(i[1:]) for i in flows.index if i[0] == "T"])]
    ours = np.r_[flows[[i for i in flows.index if i[0] == "L"]],
                 flows[[i for i in flows.index if i[0] == "T"]]]
    assert np.isfinite(ref).all()
    assert np.abs(ref).max() > 1000
    # relative to the largest flow: x spans five orders of magnitude (60 m to 200 km lines)
    assert np.abs(ours - ref).max() < 1e-6 * np.abs(ref).max()


def test_a_simbench_mv_feeder_matches_pandapower_ac():
    """1-MV-rural (two HV/MV transformers in parallel, one feeder) with the day's own
    P, Q and sgen profiles: LinDistFlow at the plan is within 0.01 p.u. of runpp."""
    from flexnet.grid.simbench import _absolute, day_profiles

    net = sb.get_simbench_net("1-MV-rural--0-sw")
    prof = day_profiles(net, "2016-01-15")
    h = 18  # the evening peak
    p = _absolute(net.load, prof["load"], "_pload").iloc[[h]]
    q = _absolute(net.load, prof["load"], "_qload", col="q_mvar").iloc[[h]]
    g = _absolute(net.sgen, prof["renewables"], kind="sgen").iloc[[h]]
    parts = flexnet.grid.pandapower.feeders_from_pandapower(net, "rural", p_load=p, q_load=q,
                                                            p_sgen=g)
    assert len(parts) == 1
    assert "+" in str(parts[0].branch.values[0])  # the two transformers as one PCC
    r = flexnet.solve(flexnet.System(parts[0].assign_attrs(name="rural")))
    net.load["p_mw"], net.load["q_mvar"] = p.iloc[0].to_numpy(), q.iloc[0].to_numpy()
    dp = r["der_p"].isel(snapshot=0).to_series()
    net.sgen["p_mw"] = 0.0
    net.sgen.loc[[int(i.split("sgen")[1]) for i in dp.index], "p_mw"] = dp.to_numpy()
    net.sgen["q_mvar"] = 0.0
    pp.runpp(net)
    v = r["node_v"].isel(snapshot=0).to_series()
    ids = [i for i in v.index if not i.endswith("-hv")]
    ref = net.res_bus.vm_pu.loc[[int(i.split("-n")[1]) for i in ids]].to_numpy()
    assert np.abs(v.loc[ids].to_numpy() - ref).max() < 0.01


def test_any_day_solves_with_one_mv_grid(tmp_path):
    from flexnet.grid.simbench import simbench_system

    s = simbench_system("2016-07-01", mv=["1-MV-semiurb--0-sw"], assets=None)
    assert s.ds.attrs["day"] == "2016-07-01"
    assert s.n("dso") == 1
    assert s.n("snapshot") == 24
    r = flexnet.solve(s)
    assert r.dataset.attrs["status"] == "optimal"
    assert float(r.summary().loc["shed_energy_mwh"].iloc[0]) == 0.0
    r.to_netcdf(tmp_path / "r.nc")  # the file carries the system, day included
    assert flexnet.read_result(tmp_path / "r.nc").system.ds.attrs["day"] == "2016-07-01"


@pytest.mark.parametrize(("day", "match"), [("2017-03-01", "cover 2016-01-01 to 2016-12-31"),
                                            ("soon", "not a date")])
def test_a_bad_day_is_refused_before_reading(day, match):
    from flexnet.grid.simbench import simbench_system

    with pytest.raises(flexnet.DataError, match=match):
        simbench_system(day)


def test_day_only_for_cases_with_a_profile_year():
    with pytest.raises(flexnet.DataError, match="'day' applies to simbench"):
        flexnet.load_case("ieee33", day="2016-01-15")


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["centralized", "hierarchical"])
def test_cli_runs_the_simbench_case(tmp_path, scheme):
    """The whole case (EHV + 4 MV grids, 5 feeders) from the command line (≈ 35 s / 80 s)."""
    from flexnet.cli import main

    out = tmp_path / "r.nc"
    assert main(["-q", "run", "simbench", "--day", "2016-10-03", "--scheme", scheme,
                 "--out", str(out)]) == 0
    assert flexnet.read_result(out).dataset.attrs["status"] == "optimal"
