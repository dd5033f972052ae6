"""Results: schema, netCDF round trip, atomic writes."""

from __future__ import annotations

import pytest
import xarray as xr

import flexnet
from flexnet.results import RESULT_SCHEMA

REQUIRED = ["bus_lmp", "gen_p", "gen_r_up", "gen_r_down", "line_flow", "line_loading", "node_v",
            "node_dlmp", "branch_loading", "pcc_p", "pcc_flex_up", "pcc_flex_down",
            "building_temperature", "building_p", "fleet_energy", "fleet_p", "storage_soc",
            "storage_p", "flex_price_up", "flex_price_down"]


def test_required_results_present_with_units(default_centralized):
    ds = default_centralized.dataset
    for name in REQUIRED:
        assert name in ds, name
        assert ds[name].attrs["units"] == RESULT_SCHEMA[name][0]
    assert ds["bus_lmp"].dims == ("snapshot", "bus")
    assert ds["node_v"].dims == ("snapshot", "node")
    assert ds["pcc_p"].dims == ("snapshot", "dso")
    for key in ("scheme", "solver", "status", "objective", "total_cost", "min_voltage_pu"):
        assert key in ds.attrs


def test_summary_table(default_centralized):
    t = default_centralized.summary()
    for row in ("total_cost", "energy_market_cost", "flexibility_market_cost",
                "dr_reward_payments", "shed_energy_mwh", "congested_line_hours",
                "min_voltage_pu", "max_voltage_pu", "voltage_violations", "branch_overloads"):
        assert row in t.index
    assert t.columns.tolist() == ["centralized"]


def test_netcdf_round_trip(tmp_path, default_centralized):
    path = default_centralized.to_netcdf(tmp_path / "r.nc")
    back = flexnet.read_result(path)
    xr.testing.assert_identical(default_centralized.dataset, back.dataset)
    with xr.open_dataset(path) as plain:
        assert "bus_lmp" in plain
        assert plain.attrs["scheme"] == "centralized"
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        for name, var in nc.variables.items():
            if name not in nc.dimensions:
                assert "units" in var.ncattrs(), name


def test_write_is_atomic(tmp_path, monkeypatch, default_centralized):
    target = tmp_path / "r.nc"

    def boom(self, path, *a, **k):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(KeyboardInterrupt):
        default_centralized.to_netcdf(target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_read_result_rejects_system_file(tmp_path):
    s = flexnet.load_case("ieee33")
    s.to_netcdf(tmp_path / "s.nc")
    with pytest.raises(flexnet.DataError, match="not a flexnet results file"):
        flexnet.read_result(tmp_path / "s.nc")


def test_results_doc_is_current():
    from pathlib import Path

    from flexnet.results import results_markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "results.md"
    assert doc.read_text() == results_markdown(), "run `make docs` to regenerate docs/results.md"


def test_results_file_stands_on_its_own(tmp_path, default_centralized):
    """The file carries its input system: residuals() runs on the file alone."""
    from flexnet.checks import residuals

    back = flexnet.read_result(default_centralized.to_netcdf(tmp_path / "r.nc"))
    assert back.system is not None
    xr.testing.assert_identical(back.system.ds, default_centralized.system.ds)
    assert max(residuals(back).values()) < 1e-6


def test_every_unit_in_the_file_is_udunits(tmp_path, default_centralized):
    """CF readers parse every unit (a currency is an attribute); numbers are compressed;
    no dimension is named 'load' (it shadows Dataset.load)."""
    import cf_units
    import netCDF4

    path = default_centralized.to_netcdf(tmp_path / "r.nc")
    with netCDF4.Dataset(path) as nc:
        assert "load" not in nc.dimensions
        for group in (nc, nc.groups["system"]):
            for name, var in group.variables.items():
                if "units" in var.ncattrs():
                    cf_units.Unit(var.units)  # raises on an unparseable unit
                if getattr(var.dtype, "kind", "") == "f" and var.ndim:
                    assert var.filters()["zlib"], name
        assert nc.variables["bus_lmp"].currency == "$"


def test_datetime_snapshots_round_trip(tmp_path):
    """A system on a DatetimeIndex solves and round-trips; the file has a CF time axis."""
    import pandas as pd

    from flexnet.checks import residuals

    s = flexnet.load_case("ieee33")
    s = flexnet.System(s.ds.assign_coords(
        snapshot=pd.date_range("2026-01-15", periods=s.n("snapshot"), freq="h")))
    r = flexnet.solve(s)
    back = flexnet.read_result(r.to_netcdf(tmp_path / "r.nc"))
    xr.testing.assert_identical(r.dataset, back.dataset)
    assert max(residuals(back).values()) < 1e-6
    with xr.open_dataset(tmp_path / "r.nc") as f:
        assert f.snapshot.encoding["units"].startswith("hours since 2026-01-15")
        assert f.snapshot.attrs["standard_name"] == "time"
