"""Every validation rule raises a DataError naming element, id and field."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import case

import flexnet
from flexnet import DataError


def mutate(name: str, fn):
    ds = case(name).ds.copy(deep=True)
    fn(ds)
    return ds


def expect(ds, *words):
    with pytest.raises(DataError) as e:
        flexnet.System(ds)
    for w in words:
        assert w in str(e.value), str(e.value)
    return str(e.value)


def test_data_error_is_value_error():
    assert issubclass(DataError, ValueError)


def test_dangling_reference():
    ds = mutate("rts24", lambda d: d["gen_bus"].values.__setitem__(3, "999"))
    expect(ds, "gen 'G4'", "gen_bus", "'999'", "does not exist")


def test_duplicate_ids():
    def dup(d):
        ids = d["line"].values.copy()
        ids[1] = ids[0]
        d["line"] = ids
    expect(mutate("rts24", dup), "line 'L1'", "duplicate id")


@pytest.mark.parametrize(("field", "value", "words"), [
    ("line_x", 0.0, ["line 'L1'", "line_x", "reactance"]),
    ("line_s_max", 0.0, ["line 'L1'", "line_s_max", "> 0"]),
    ("gen_p_max", np.nan, ["gen 'G1'", "gen_p_max", "NaN"]),
    ("gen_cost", np.inf, ["gen 'G1'", "gen_cost", "infinite"]),
])
def test_bad_numbers(field, value, words):
    ds = mutate("rts24", lambda d: d[field].values.__setitem__(0, value))
    expect(ds, *words)


def test_branch_impedance_and_capacity():
    expect(mutate("ieee33", lambda d: d["branch_r"].values.__setitem__(4, 0.0)),
           "branch 'ieee33-b5'", "branch_r")
    expect(mutate(flexnet.DEFAULT_CASE, lambda d: d["storage_e_max"].values.__setitem__(0, -1)),
           "storage 'BESS0'", "storage_e_max")


def test_profile_nan_names_snapshot():
    ds = mutate("rts24", lambda d: d["load_p"].values.__setitem__((5, 2), np.nan))
    msg = expect(ds, "load", "load_p", "snapshot=5")
    assert "NaN" in msg


def test_profile_length_mismatch():
    import pandas as pd

    with pytest.raises(DataError, match=r"load: profile 'load_p' has 3 rows but the system has 2"):
        flexnet.System.from_frames(
            2, static={"bus": pd.DataFrame(index=["a"]),
                       "load": pd.DataFrame({"bus": ["a"]}, index=["d"])},
            series={"load_p": pd.DataFrame({"d": [1.0, 2.0, 3.0]})})


def test_pmin_above_pmax():
    ds = mutate("rts24", lambda d: d["gen_p_min"].values.__setitem__(2, 1e4))
    expect(ds, "gen 'G3'", "gen_p_min", "gen_p_max")


def test_comfort_band_inverted():
    def inv(d):
        d["building_t_min"].values[1] = 30.0
    expect(mutate(flexnet.DEFAULT_CASE, inv), "building 'SB1'", "comfort band inverted")


def test_interval_must_contain_forecast():
    def bad(d):
        d["wind_p_upper"].values[3, 0] = d["wind_p"].values[3, 0] - 1
    expect(mutate(flexnet.DEFAULT_CASE, bad), "wind 'W1'", "wind_p_upper", "snapshot=3")


def test_feeder_not_radial():
    def loop(d):  # give node 5 a second parent
        d["branch_node1"].values[10] = "ieee33-n5"
    expect(mutate("ieee33", loop), "not radial", "ieee33-n5")


def test_feeder_not_connected():
    def cut(d):  # lateral 19-20-21-22 detached from the root and closed into a ring
        i = int(np.flatnonzero(d["branch_node1"].values == "ieee33-n19")[0])
        d["branch_node0"].values[i] = "ieee33-n22"
    expect(mutate("ieee33", cut), "dso 'ieee33'", "not connected", "2 islands")


def test_feeder_zero_or_several_roots():
    ds = case("ieee33").ds.drop_isel(branch=[20])
    msg = expect(ds, "dso 'ieee33'", "roots")
    assert "2 roots" in msg
    # a cycle through the root: every node has a parent
    ds = case("ieee33").ds.copy(deep=True)
    ds = ds.drop_isel(branch=[20])
    import xarray as xr
    extra = xr.Dataset({"branch_dso": ("branch", ["ieee33"]),
                        "branch_node0": ("branch", [str(ds.branch_node1.values[-1])]),
                        "branch_node1": ("branch", ["ieee33-n1"]),
                        "branch_r": ("branch", [0.1]), "branch_x": ("branch", [0.1]),
                        "branch_s_max": ("branch", [1.0])},
                       coords={"branch": ["x1"]})
    ds = xr.concat([ds[[v for v in ds.data_vars if v.startswith("branch_")]], extra], "branch")
    full = case("ieee33").ds.drop_dims("branch").merge(ds)
    expect(full, "dso 'ieee33'")


def test_unknown_field_suggests():
    ds = case("rts24").ds.rename({"gen_p_max": "gen_pmax"})
    expect(ds, "unknown field 'gen_pmax'", "gen_p_max")


def test_read_system_validates(tmp_path):
    ds = mutate("rts24", lambda d: d["line_x"].values.__setitem__(0, 0.0))
    ds.attrs["flexnet_kind"] = "flexnet-system"
    ds.to_netcdf(tmp_path / "bad.nc")
    with pytest.raises(DataError, match="line_x"):
        flexnet.read_system(tmp_path / "bad.nc")


def test_read_system_rejects_other_files(tmp_path):
    import xarray as xr

    xr.Dataset({"a": ("x", [1.0])}).to_netcdf(tmp_path / "x.nc")
    with pytest.raises(DataError, match="not a flexnet system file"):
        flexnet.read_system(tmp_path / "x.nc")
    (tmp_path / "junk.nc").write_text("not netcdf")
    with pytest.raises(DataError, match="not a readable netCDF"):
        flexnet.read_system(tmp_path / "junk.nc")
