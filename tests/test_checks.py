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
