"""Shipped cases: published totals, composition, netCDF round trips."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from conftest import case

import flexnet


def peak(da, dim):
    return float(da.sum(dim).max())


def test_list_cases_contains_all():
    assert set(flexnet.list_cases()) >= {"ieee33", "ieee69", "rts24", "ieee118", "rts24-dso"}
    assert flexnet.DEFAULT_CASE in flexnet.list_cases()


@pytest.mark.parametrize(("name", "p", "q"), [("ieee33", 3.715, 2.3), ("ieee69", 3.8022, 2.6946)])
def test_feeder_published_totals(name, p, q):
    # Baran & Wu (1989): IEEE 33-bus 3.715 MW / 2.300 Mvar; IEEE 69-bus 3.802 MW / 2.695 Mvar
    ds = case(name).ds
    assert peak(ds.node_p_load, "node") == pytest.approx(p, abs=1e-3)
    assert peak(ds.node_q_load, "node") == pytest.approx(q, abs=1e-3)
    assert ds.sizes["node"] == int(name[4:])
    assert ds.sizes["branch"] == int(name[4:]) - 1


@pytest.mark.parametrize(("name", "load", "buses", "gens"), [
    ("rts24", 2850.0, 24, 32),   # IEEE RTS 1979: 2850 MW peak; 32 units + 1 condenser
    ("ieee118", 4242.0, 118, 54),
])
def test_ts_published_totals(name, load, buses, gens):
    ds = case(name).ds
    assert peak(ds.load_p, "load") == pytest.approx(load)
    assert ds.sizes["bus"] == buses
    assert ds.sizes["gen"] == gens
    if name == "rts24":
        assert float(ds.gen_p_max.sum()) == pytest.approx(3405.0)


def test_default_case_composition(default_case):
    s = default_case
    assert s.n("dso") >= 4
    assert s.n("building") >= 20
    assert s.n("fleet") >= 4
    assert s.n("storage") >= 4
    assert s.n("wind") >= 1
    assert (s.ds.der_kind == "pv").any()
    sizes = s.ds.node_dso.to_series().value_counts()
    assert set(sizes.values) == {33, 69}
    # the DSOs' load was taken out of the PCC buses: the TS + DS total stays published
    total = s.ds.load_p.sum("load") + s.ds.node_p_load.sum("node")
    assert float(total.max()) == pytest.approx(2850.0, rel=1e-9)
    assert "forecast_error" in s.ds
    assert s.ds.sizes["sample"] >= 100


@pytest.mark.parametrize("name", ["ieee33", "rts24", "rts24-dso"])
def test_netcdf_round_trip(tmp_path, name):
    s = case(name)
    path = s.to_netcdf(tmp_path / f"{name}.nc")
    back = flexnet.read_system(path)
    xr.testing.assert_identical(s.ds, back.ds)
    assert back.ds.storage_cyclic.dtype == bool if s.n("storage") else True


def test_units_on_every_field(default_case):
    for v in default_case.ds.data_vars:
        assert "units" in default_case.ds[v].attrs, v


def test_schema_doc_is_current():
    from pathlib import Path

    from flexnet.grid.schema import schema_markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "schema.md"
    assert doc.read_text() == schema_markdown(), "run `make docs` to regenerate docs/schema.md"


def test_unknown_case():
    with pytest.raises(flexnet.DataError, match="unknown case 'nope'; shipped cases: ieee33"):
        flexnet.load_case("nope")


def test_intervals_contain_forecast(default_case):
    ds = default_case.ds
    for base in ("load_p", "wind_p", "node_p_load", "der_p"):
        assert (ds[f"{base}_lower"] <= ds[base]).all()
        assert (ds[base] <= ds[f"{base}_upper"]).all()
    assert float((ds.wind_p_upper - ds.wind_p_lower).max()) > 0
    assert np.isfinite(ds.forecast_error).all()


def test_stressed_case_keeps_the_grid_and_adds_evs_and_pv(default_case):
    s = flexnet.load_case("rts24-dso-stressed")
    d, ds = default_case.ds, s.ds
    np.testing.assert_array_equal(ds.branch_s_max.values, d.branch_s_max.values)
    np.testing.assert_array_equal(ds.dso_s_max.values, d.dso_s_max.values)
    assert ds.sizes["fleet"] == 3 * d.sizes["fleet"]
    assert int((ds.der_kind == "pv").sum()) == 3 * int((d.der_kind == "pv").sum())
