"""pandapower importer, checked against the MATPOWER importer on the same published cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from conftest import case

import flexnet
from flexnet.grid.matpower import ts_from_matpower

pp = pytest.importorskip("pandapower")
pn = pytest.importorskip("pandapower.networks")


def test_ts_matches_matpower_importer():
    """pandapower's case9 is MATPOWER's case9: both importers must give the same optimum."""
    mp = pytest.importorskip("matpower")
    from flexnet.grid.pandapower import ts_from_pandapower

    a = flexnet.System(ts_from_pandapower(pn.case9()).assign_attrs(name="pp9"))
    b = flexnet.System(ts_from_matpower(Path(mp.__file__).parent / "data" / "case9.m")
                       .assign_attrs(name="mp9"))
    assert float(a.ds.load_p.sum()) == pytest.approx(float(b.ds.load_p.sum()))
    assert sorted(a.ds.line_x.values) == pytest.approx(sorted(b.ds.line_x.values), rel=1e-6)
    ra, rb = flexnet.solve(a), flexnet.solve(b)
    assert ra.dataset.attrs["objective"] == pytest.approx(rb.dataset.attrs["objective"], rel=1e-6)


def test_feeder_matches_shipped_ieee33():
    from flexnet.grid.pandapower import feeder_from_pandapower

    ds = feeder_from_pandapower(pn.case33bw(), "pp33")
    s = flexnet.System(ds)
    ref = case("ieee33").ds
    assert float(s.ds.node_p_load.sum()) == pytest.approx(3.715)
    assert float(s.ds.node_q_load.sum()) == pytest.approx(2.3)
    np.testing.assert_allclose(np.sort(s.ds.branch_r.values), np.sort(ref.branch_r.values),
                               rtol=1e-3)
    r = flexnet.solve(s)
    v_ref = flexnet.solve(case("ieee33"))["node_v"].isel(snapshot=17).values
    assert float(r["node_v"].min()) == pytest.approx(float(v_ref.min()), abs=2e-3)


def test_missing_pmax_is_a_clear_error():
    from flexnet.grid.pandapower import ts_from_pandapower

    net = pn.case9()
    net.gen.loc[0, "max_p_mw"] = np.nan
    with pytest.raises(flexnet.DataError, match="gen 0: field 'max_p_mw'"):
        ts_from_pandapower(net)





def _system_of(parts):

    from flexnet.grid.cases import concat_feeders

    ds = concat_feeders(parts)
    ders = [p[[v for v in p.data_vars if v.startswith("der_")]] for p in parts if "der" in p.dims]
    return flexnet.System(xr.merge([ds, xr.concat(ders, "der")]) if ders else ds)


@pytest.mark.filterwarnings("ignore")  # pandapower's numba and pandas chatter
@pytest.mark.parametrize("name", ["cigre_mv", "mv_oberrhein"])
def test_imported_feeders_match_pandapower_ac(name):
    """MV benchmark nets (switches honoured, one feeder per HV/MV transformer, nominal
    voltage from the MV side, sgens as PV): flexnet's LinDistFlow voltages of the solved
    plan are within 0.01 p.u. of pandapower's AC power flow at the same injections."""
    from flexnet.grid.pandapower import feeders_from_pandapower

    net = (pn.create_cigre_network_mv(with_der="pv_wind") if name == "cigre_mv"
           else pn.mv_oberrhein())
    parts = feeders_from_pandapower(net, name)
    assert len(parts) == 2  # two HV/MV transformers; the open switches make them radial
    assert all(float(p.dso_v_nom[0]) == 20.0 for p in parts)  # MV, not the 110 kV root
    r = flexnet.solve(_system_of(parts))
    if "der_p" in r.dataset:  # the plan's PV output goes into the AC reference
        dp = r["der_p"].isel(snapshot=0).to_series()
        idx = [int(i.split("sgen")[1]) for i in dp.index]
        net.sgen.loc[idx, "p_mw"] = dp.to_numpy() / net.sgen.loc[idx, "scaling"]
        net.sgen.loc[idx, "q_mvar"] = 0.0
    pp.runpp(net)
    v = r["node_v"].isel(snapshot=0).to_series()
    ids = [i for i in v.index if not i.endswith("-hv")]
    ref = net.res_bus.vm_pu.loc[[int(i.split("-n")[1]) for i in ids]].to_numpy()
    assert np.abs(v.loc[ids].to_numpy() - ref).max() < 0.01


def test_a_meshed_feeder_names_its_loop():
    from flexnet.grid.pandapower import feeders_from_pandapower

    net = pn.create_cigre_network_mv()
    net.switch["closed"] = True  # closes the rings CIGRE MV keeps open
    with pytest.raises(flexnet.DataError, match=r"meshed; loop through buses \[.*\] .*open a switch"):
        feeders_from_pandapower(net, "cigre")


def test_a_net_without_ext_grid_is_refused():
    from flexnet.grid.pandapower import feeders_from_pandapower

    net = pn.create_cigre_network_mv()
    net.ext_grid["in_service"] = False
    with pytest.raises(flexnet.DataError, match="no in-service ext_grid"):
        feeders_from_pandapower(net, "cigre")


@pytest.mark.filterwarnings("ignore")
def test_compose_checks_its_arguments():
    from flexnet.grid.pandapower import feeders_from_pandapower, ts_from_pandapower

    ts = ts_from_pandapower(pn.case39())
    feeders = feeders_from_pandapower(pn.create_cigre_network_mv(), "c")
    with pytest.raises(flexnet.DataError, match="2 feeders but 1 PCC"):
        flexnet.System.compose(ts, feeders, at=["3"])
    with pytest.raises(flexnet.DataError, match="dso 'c1': PCC bus '999'"):
        flexnet.System.compose(ts, feeders, at=["3", "999"])
    with pytest.raises(flexnet.DataError, match="bus '8': its feeders draw more"):
        flexnet.System.compose(ts, feeders, at=["8", "3"])  # 24 MW of feeder on a 6.5 MW load
    s = flexnet.System.compose(ts, feeders, at=["3", "7"], assets="auto", seed=1)
    assert s.n("building") > 0
    assert s.n("dso") == 2
    # the feeders' demand moved out of their PCC buses' TS load
    before = float(ts.load_p.sum())
    after = float(s.ds.load_p.sum()) + float(s.ds.node_p_load.sum())
    assert after == pytest.approx(before, rel=1e-9)


def test_storage_is_imported_as_bess():
    """CIGRE MV with all DER: its two batteries (no energy given) become BESS with
    storage_hours; without it the error names the storage and the field."""
    from flexnet.grid.pandapower import feeders_from_pandapower

    net = pn.create_cigre_network_mv(with_der="all")
    with pytest.raises(flexnet.DataError, match="storage 0: field 'max_e_mwh'.*storage_hours"):
        feeders_from_pandapower(net, "c")
    parts = feeders_from_pandapower(net, "c", storage_hours=2.0)
    st = xr.concat([p[[v for v in p.data_vars if v.startswith("storage_")]]
                    for p in parts if "storage" in p.dims], "storage")
    assert st.sizes["storage"] == 2
    np.testing.assert_allclose(sorted(st.storage_p_max.values), [0.2, 0.6])
    np.testing.assert_allclose(sorted(st.storage_e_max.values), [0.4, 1.2])
    assert {n.split("-")[1] for n in st.storage_node.values} == {"n5", "n10"}
    r = flexnet.solve(_system_of(parts))
    assert r.dataset.attrs["status"] == "optimal"


@pytest.mark.filterwarnings("ignore")
def test_ts_time_series_and_curtailable_renewables():
    """Per-element time series replace p_mw × profile; curtailable sgens become wind
    elements, and a bus whose loads are net generation gives its surplus as one."""
    import pandas as pd

    from flexnet.grid.pandapower import ts_from_pandapower

    net = pn.case9()
    pp.create_sgen(net, 4, p_mw=50.0)
    p_load = pd.DataFrame([net.load.p_mw.to_numpy(), -net.load.p_mw.to_numpy()],
                          columns=net.load.index)  # hour 1: the loads produce
    p_sgen = pd.DataFrame({0: [20.0, 40.0]})
    ts = ts_from_pandapower(net, p_load=p_load, p_sgen=p_sgen, renewables="curtailable")
    assert ts.sizes["snapshot"] == 2
    assert float(ts.load_p.isel(snapshot=1).sum()) == 0.0
    np.testing.assert_allclose(ts.wind_p.sel(wind="sgen0").values, [20.0, 40.0])
    surplus = ts.wind_p.sel(wind=[w for w in ts.wind.values if w.startswith("S")]).sum("wind")
    np.testing.assert_allclose(surplus.values, [0.0, net.load.p_mw.sum()])
    with pytest.raises(flexnet.DataError, match="sgen 0: no column"):
        ts_from_pandapower(net, p_sgen=pd.DataFrame({5: [1.0]}))
