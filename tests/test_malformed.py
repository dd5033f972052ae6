"""A catalogue of malformed inputs of four kinds — dataset edits, ``from_frames`` tables,
MATPOWER files and netCDF files. Each must raise a ``DataError`` naming the element (or
file part) and the field, before any solve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import CASE_DIR, case

import flexnet
from flexnet import DataError
from flexnet.grid.matpower import ts_from_matpower
from flexnet.grid.schema import FIELDS

BASE = "rts24-dso"


def _numeric_fields() -> list[str]:
    ds = case(BASE).ds
    return [f.name for f in FIELDS if f.name in ds and ds[f.name].size
            and f.rule in ("pos", "nonneg", "any", "frac")]


def _edit(field: str, value, at=0):
    def fn(ds):
        a = ds[field].values.copy()
        if np.iscomplexobj(value) or isinstance(value, str):
            a = a.astype(object if isinstance(value, str) else complex)
        a.flat[at] = value
        ds[field] = (ds[field].dims, a)
    return fn


def _expect(build, *words: str) -> str:
    with pytest.raises(DataError) as e:
        build()
    text = str(e.value)
    for w in words:
        assert w in text, text
    return text


def _system(fn):
    ds = case(BASE).ds.copy(deep=True)
    fn(ds)
    return lambda: flexnet.System(ds)


def _elem(field: str) -> str:
    return field.split("_")[0] if field.split("_")[0] in case(BASE).ds.dims else "system"


# --- 1. dataset edits: every numeric field NaN, infinite, complex, text ----------------
@pytest.mark.parametrize("field", _numeric_fields())
@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
def test_non_finite_numbers(field, value):
    _expect(_system(_edit(field, value)), field, _elem(field))


@pytest.mark.parametrize("field", ["gen_p_max", "line_x", "load_p", "branch_r", "storage_e_max",
                                   "fleet_eta", "building_c", "der_p_max", "t_out", "fr_up"])
def test_complex_numbers(field):
    _expect(_system(_edit(field, 1 + 1j)), field, "complex")


@pytest.mark.parametrize("field", ["gen_cost", "line_s_max", "load_p", "node_p_load",
                                   "storage_p_max", "building_r", "fleet_count", "der_cost"])
def test_text_cells(field):
    _expect(_system(_edit(field, "12 MW")), field, "numeric")


def test_timedelta_ramp():
    def fn(ds):
        ds["gen_ramp"] = (ds.gen_ramp.dims, np.full(ds.gen_ramp.shape, np.timedelta64(1, "h")))
    _expect(_system(fn), "gen", "gen_ramp", "numeric")


# --- 2. dataset edits: physical ranges ------------------------------------------------
@pytest.mark.parametrize(("field", "value", "what"), [
    ("storage_eta_c", 0.0, "(0, 1]"), ("storage_eta_d", 0.0, "(0, 1]"),
    ("fleet_eta", 0.0, "(0, 1]"), ("storage_eta_c", 1.5, "must lie in [0, 1]"),
    ("building_eta", 50.0, "COP"), ("load_p", 1e30, "ceiling"), ("node_p_load", 1e12, "ceiling"),
    ("line_x", 1e-30, "reactance"), ("line_x", 1e30, "reactance"),
    ("branch_x", 1e30, "reactance"), ("branch_r", 1e-30, "resistance"),
    ("gen_cost", 1e12, "ceiling"), ("gen_p_max", 1e15, "ceiling"),
    ("dso_v_max", 3.0, "p.u."), ("dso_v_min", 0.1, "p.u."), ("t_out", 400.0, "°C"),
    ("building_t_init", -300.0, "°C"), ("fleet_count", 1e12, "ceiling"),
    ("dso_v_nom", 1e6, "kV"), ("storage_e_max", 1e20, "ceiling"),
])
def test_out_of_physical_range(field, value, what):
    _expect(_system(_edit(field, value)), field, what)


def test_line_from_a_bus_to_itself():
    def fn(ds):
        ds["line_bus1"].values[2] = ds["line_bus0"].values[2]
    _expect(_system(fn), "line", "itself", "line_bus1")


def test_duplicate_snapshot_labels():
    def fn(ds):
        snaps = ds.snapshot.values.copy()
        snaps[3] = snaps[2]
        ds["snapshot"] = snaps
    _expect(_system(fn), "snapshot", "duplicate")


@pytest.mark.parametrize(("attr", "value", "words"), [
    ("VOLL", 1000.0, ["'VOLL'", "did you mean 'voll'"]),
    ("base_mv", 100.0, ["'base_mv'", "did you mean 'base_mva'"]),
    ("balancing_premium", np.nan, ["'balancing_premium'"]),
    ("balancing_premium", -1.0, ["'balancing_premium'"]),
    ("voll", "lots", ["'voll'", "number"]),
    ("voll", np.inf, ["'voll'"]),
    ("base_mva", 0.0, ["'base_mva'"]),
    ("drp_reward_min", "x", ["'drp_reward_min'"]),
    ("voll", 1e12, ["'voll'", "ceiling"]),
    ("voll", 1 + 2j, ["'voll'"]),
])
def test_bad_system_attributes(attr, value, words):
    def fn(ds):
        ds.attrs[attr] = value
    _expect(_system(fn), "system", *words)


# --- 3. from_frames tables ------------------------------------------------------------
def _frames(**change):
    static = {
        "bus": pd.DataFrame(index=["a", "b"]),
        "line": pd.DataFrame({"bus0": ["a"], "bus1": ["b"], "x": [0.1], "s_max": [100.0]},
                             index=["l"]),
        "gen": pd.DataFrame({"bus": ["a"], "p_max": [10.0], "p_min": [0.0], "ramp": [10.0],
                             "cost": [20.0], "cost_r_up": [1.0], "cost_r_down": [1.0]},
                            index=["g"]),
        "load": pd.DataFrame({"bus": ["b"]}, index=["d"]),
    }
    series = {"load_p": pd.DataFrame({"d": [5.0, 6.0]})}
    attrs: dict = {}
    snapshots = change.pop("snapshots", 2)
    for fn in change.values():
        fn(static, series, attrs)
    return lambda: flexnet.System.from_frames(snapshots, static=static, series=series,
                                              attrs=attrs)


def _set(table: str, col: str, value):
    def fn(static, series, attrs):
        static[table] = static[table].assign(**{col: [value] * len(static[table])})
    return fn


@pytest.mark.parametrize(("change", "words"), [
    (_set("gen", "p_max", "ten"), ["gen", "gen_p_max", "numeric"]),
    (_set("gen", "cost", None), ["gen", "gen_cost"]),
    (_set("line", "x", 1e9), ["line", "line_x"]),
    (_set("line", "x", 0.0), ["line", "line_x"]),
    (_set("line", "bus1", "a"), ["line", "itself"]),
    (_set("line", "bus1", "zz"), ["line", "line_bus1", "'zz'"]),
    (_set("gen", "bus", "zz"), ["gen", "gen_bus", "'zz'"]),
    (_set("gen", "p_min", 20.0), ["gen", "gen_p_min"]),
    (_set("gen", "ramp", np.nan), ["gen", "gen_ramp"]),
    (_set("gen", "p_max", 1 + 1j), ["gen", "gen_p_max", "complex"]),
    (_set("gen", "colour", 3.0), ["gen_colour", "unknown field"]),
])
def test_bad_static_tables(change, words):
    _expect(_frames(x=change), *words)


def _series(name: str, frame):
    def fn(static, series, attrs):
        series[name] = frame
    return fn


@pytest.mark.parametrize(("change", "words"), [
    (_series("load_p", pd.DataFrame({"d": [5.0, 6.0], "ghost": [1.0, 1.0]})),
     ["load", "'ghost'", "load_p"]),
    (_series("load_p", pd.DataFrame({"d": ["5", "six"]})), ["load", "load_p", "numeric"]),
    (_series("load_p", pd.DataFrame({"d": [5.0, 6.0, 7.0]})), ["load", "load_p", "rows"]),
    (_series("load_p", pd.DataFrame({"e": [5.0, 6.0]})), ["load", "load_p"]),
    (_series("load_p", pd.DataFrame({"d": [5.0, -6.0]})), ["load 'd'", "load_p", ">= 0"]),
    (_series("wind_p", pd.DataFrame({"w": [5.0, 6.0]})), ["wind", "wind_p"]),
    (_series("load_q", pd.DataFrame({"d": [5.0, 6.0]})), ["load_q"]),
    (_series("t_out", pd.DataFrame({"t": ["cold", "warm"]})), ["t_out", "numeric"]),
])
def test_bad_profiles(change, words):
    _expect(_frames(x=change), *words)


def test_unknown_element_table():
    def fn(static, series, attrs):
        static["trafo"] = pd.DataFrame(index=["t"])
    _expect(_frames(x=fn), "trafo", "element")


@pytest.mark.parametrize(("attr", "value", "words"), [
    ("VOLL", 100.0, ["'VOLL'", "'voll'"]),
    ("voll", "cheap", ["'voll'"]),
    ("base_mva", -100.0, ["'base_mva'"]),
])
def test_bad_attrs_in_frames(attr, value, words):
    def fn(static, series, attrs):
        attrs[attr] = value
    _expect(_frames(x=fn), "system", *words)


def test_duplicate_snapshots_in_frames():
    _expect(_frames(snapshots=pd.Index([0, 0])), "snapshot", "duplicate")


# --- 4. MATPOWER files -----------------------------------------------------------------
_CASE = """function mpc = t
mpc.version = '2';
mpc.baseMVA = {base};
mpc.bus = [
\t1\t3\t0\t0\t0\t0\t1\t1\t0\t135\t1\t1.05\t0.95;
\t2\t1\t{pd}\t10\t0\t0\t1\t1\t0\t135\t1\t1.05\t0.95;
];
mpc.gen = [
\t1\t50\t0\t300\t-300\t1\t100\t1\t{pmax}\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0;
];
mpc.branch = [
\t1\t2\t{r}\t{x}\t0\t{rate}\t250\t250\t0\t0\t1\t-360\t360;
];
mpc.gencost = [
\t2\t0\t0\t{ncost}\t0.01\t20\t0;
];
"""
_GOOD = {"base": "100", "pd": "50", "pmax": "200", "r": "0.01", "x": "0.1", "rate": "250",
         "ncost": "3"}


def _mp(tmp_path, **change):
    path = tmp_path / "t.m"
    path.write_text(_CASE.format(**(_GOOD | change)))
    return lambda: flexnet.System(ts_from_matpower(path))


def test_the_matpower_template_is_good(tmp_path):
    assert _mp(tmp_path)().n("line") == 1


@pytest.mark.parametrize(("change", "words"), [
    ({"pd": "fifty"}, ["t.m", "mpc.bus", "row 2", "'fifty'"]),
    ({"x": "0.1x"}, ["t.m", "mpc.branch", "row 1", "'0.1x'"]),
    ({"ncost": "7"}, ["t.m", "mpc.gencost", "row 1", "NCOST"]),
    ({"ncost": "-1"}, ["t.m", "mpc.gencost", "row 1", "NCOST"]),
    ({"base": "0"}, ["t.m", "baseMVA"]),
    ({"base": "-100"}, ["t.m", "baseMVA"]),
    ({"x": "0", "r": "0"}, ["t.m", "mpc.branch", "row 1", "BR_X"]),
    ({"x": "1e-30"}, ["line", "line_x", "reactance"]),
    ({"pmax": "-200"}, ["t.m", "mpc.gen", "row 1", "PMAX"]),
    ({"rate": "-5"}, ["t.m", "mpc.branch", "row 1", "RATE_A"]),
    ({"pd": "nan"}, ["t.m", "mpc.bus", "row 2", "PD", "NaN"]),
    ({"pd": "1e30"}, ["load", "load_p", "ceiling"]),
])
def test_bad_matpower_files(tmp_path, change, words):
    _expect(_mp(tmp_path, **change), *words)


def test_matpower_branch_to_an_unknown_bus(tmp_path):
    path = tmp_path / "t.m"
    path.write_text(_CASE.format(**_GOOD).replace("\t1\t2\t0.01", "\t1\t9\t0.01"))
    _expect(lambda: flexnet.System(ts_from_matpower(path)), "mpc.branch", "row 1", "9")


def test_matpower_missing_matrix_and_ragged_rows(tmp_path):
    path = tmp_path / "t.m"
    path.write_text(_CASE.format(**_GOOD).split("mpc.branch")[0])
    _expect(lambda: ts_from_matpower(path), "t.m", "mpc.branch")
    path.write_text(_CASE.format(**_GOOD).replace("\t10\t0\t0\t1", "\t10\t0\t1"))
    _expect(lambda: ts_from_matpower(path), "t.m", "mpc.bus", "rows of different lengths")


def test_matpower_file_that_is_not_there(tmp_path):
    _expect(lambda: ts_from_matpower(tmp_path / "nope.m"), "nope.m")


# --- 5. netCDF files --------------------------------------------------------------------
def test_a_file_that_is_not_netcdf(tmp_path):
    p = tmp_path / "s.nc"
    p.write_text("not a netCDF file")
    _expect(lambda: flexnet.read_system(p), "s.nc", "netCDF")


def test_a_netcdf_file_that_is_not_a_system(tmp_path):
    import xarray as xr

    p = tmp_path / "s.nc"
    xr.Dataset({"a": ("x", [1.0])}).to_netcdf(p)
    _expect(lambda: flexnet.read_system(p), "s.nc", "not a flexnet system file")


def test_a_results_file_read_as_a_system(tmp_path):
    r = flexnet.solve("ieee33", "centralized")
    p = r.to_netcdf(tmp_path / "r.nc")
    _expect(lambda: flexnet.read_system(p), "r.nc", "not a flexnet system file")


@pytest.mark.parametrize(("field", "value"), [("gen_p_max", np.nan), ("line_x", 0.0),
                                               ("storage_eta_c", 0.0), ("load_p", 1e30)])
def test_a_system_file_with_bad_values(tmp_path, field, value):
    import xarray as xr

    s = case(BASE)
    p = s.to_netcdf(tmp_path / "s.nc")
    with xr.open_dataset(p) as f:
        ds = f.load()
    a = ds[field].values.copy()
    a.flat[0] = value
    ds[field] = (ds[field].dims, a)
    ds.to_netcdf(tmp_path / "bad.nc")
    _expect(lambda: flexnet.read_system(tmp_path / "bad.nc"), field)


def test_the_catalogue_has_at_least_100_cases(request):
    items = [i for i in request.session.items
             if getattr(getattr(i, "module", None), "__name__", "") == __name__]
    assert len(items) >= 100


def test_bad_input_never_reaches_the_solver(monkeypatch):
    """A malformed system raises at construction: the solver is never called."""
    import flexnet.solver as solver

    def boom(*a, **k):
        raise AssertionError("the solver was called")

    monkeypatch.setattr(solver, "run_highs", boom)
    with pytest.raises(DataError):
        _system(_edit("line_x", 1e-30))()


_ = CASE_DIR  # the shipped MATPOWER cases are the good counterparts of section 4
