"""Residual checkers on solved results: every balance recomputed from the solution."""

from __future__ import annotations

import pytest
from conftest import solved

import flexnet
from flexnet.checks import residuals

TOL = 1e-6


@pytest.mark.parametrize("scheme", ["centralized", "sequential"])
def test_default_case_residuals(scheme):
    r = solved(flexnet.DEFAULT_CASE, scheme)
    res = residuals(r)
    expected = {"ts_balance", "ds_balance_p", "ds_balance_q", "voltage_drop", "storage_soc",
                "fleet_energy", "building_thermal", "comfort_band", "fleet_departure",
                "line_limit", "branch_limit", "voltage_band"}
    assert expected <= set(res)
    bad = {k: v for k, v in res.items() if v > TOL}
    assert not bad, bad


@pytest.mark.parametrize("name", ["ieee33", "ieee69", "rts24"])
def test_small_case_residuals(name):
    res = residuals(solved(name, "centralized"))
    assert res
    assert max(res.values()) < TOL, res


def test_checker_catches_a_broken_balance():
    r = solved("rts24", "centralized")
    broken = flexnet.Result(r.dataset.copy(deep=True), r.system)
    broken.dataset["gen_p"][0, 0] += 5.0
    assert residuals(broken)["ts_balance"] == pytest.approx(5.0)


def test_ac_check_of_the_default_plan(default_centralized):
    """pandapower's AC power flow at the plan's injections: LinDistFlow within 0.005 p.u.,
    no AC voltage violation or overload, positive losses on every feeder."""
    pytest.importorskip("pandapower")
    from flexnet.checks import ac_check

    ac = ac_check(default_centralized)
    assert ac.attrs["ac_max_v_error"] < 0.005
    assert ac.attrs["ac_voltage_violations"] == 0
    assert ac.attrs["ac_branch_overloads"] == 0
    assert float(ac.ac_losses.min()) > 0
    assert ac.ac_v.dims == ("snapshot", "node")


def test_ac_check_in_the_cli_goes_into_the_file(tmp_path):
    import subprocess
    import sys

    import flexnet

    out = tmp_path / "r.nc"
    p = subprocess.run([sys.executable, "-m", "flexnet", "run", "ieee33", "--ac-check", "--out",
                        str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "AC check: max |V_lin - V_ac|" in p.stdout
    ds = flexnet.read_result(out).dataset
    assert ds.attrs["ac_max_v_error"] < 0.005
    assert "ac_v" in ds


def test_ac_secure_tightens_until_the_ac_plan_holds():
    """A voltage band LinDistFlow just meets but AC breaks (it neglects losses): one
    tightening round makes the AC plan feasible."""
    pytest.importorskip("pandapower")
    from flexnet.checks import ac_check, ac_secure

    s = flexnet.load_case("ieee33")
    v_lin = float(flexnet.solve(s, shedding="ignore")["node_v"].min())
    ds = s.ds.copy()
    ds["dso_v_min"] = ds.dso_v_min * 0 + v_lin + 0.002
    tight = flexnet.System(ds)
    assert ac_check(flexnet.solve(tight, shedding="ignore")).attrs["ac_voltage_violations"] > 0
    r = ac_secure(tight, shedding="ignore")
    a = r.dataset.attrs
    assert a["ac_secure"] == 1
    assert a["ac_voltage_violations"] == 0
    assert 1 <= a["ac_rounds"] <= 2
    assert a["ac_min_v"] >= float(ds.dso_v_min[0]) - 1e-4
