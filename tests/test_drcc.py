"""DRCC margins, validated out of sample (≥ 10⁴ samples per distribution)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import xarray as xr
from conftest import case
from scipy import stats

import flexnet
from flexnet.uncertainty.drcc import margins, solve_drcc, validate_out_of_sample


@functools.cache
def drcc(method: str, eps: float) -> flexnet.Result:
    return solve_drcc(case(flexnet.DEFAULT_CASE), eps=eps, method=method)


@functools.cache
def oos(method: str, eps: float):
    return validate_out_of_sample(drcc(method, eps), n=10_000, seed=1)


def test_margin_formulas():
    rng = np.random.default_rng(0)
    w = xr.DataArray(rng.normal(2.0, 3.0, 100_000), dims="sample")
    mu, sd = float(w.mean()), float(w.std())
    assert float(margins(w, 0.05, "gaussian")) == pytest.approx(mu + sd * stats.norm.ppf(0.95))
    assert float(margins(w, 0.05, "cantelli")) == pytest.approx(mu + sd * np.sqrt(19))
    # CVaR of a normal: μ + σ φ(z)/ε
    cvar = 2.0 + 3.0 * stats.norm.pdf(stats.norm.ppf(0.95)) / 0.05
    assert float(margins(w, 0.05, "wasserstein", theta=0.0)) == pytest.approx(cvar, rel=0.01)
    with pytest.raises(ValueError, match="eps"):
        margins(w, 1.5)


@pytest.mark.parametrize("method", ["cantelli", "wasserstein"])
def test_dr_margins_hold_out_of_sample(method):
    table = oos(method, 0.05)
    assert set(table.distribution) == {"gaussian", "skewed", "student-t"}
    assert (table.n >= 10_000).all()
    assert {"reserve_up", "gen_upper", "voltage_lower", "branch", "pcc_upper"} <= set(table.family)
    bad = table[table.ci_high > table.eps]
    assert bad.empty, bad


def test_gaussian_margin_violates_under_student_t():
    table = oos("gaussian", 0.01)
    t = table[(table.distribution == "student-t") & (table.family == "reserve_up")].iloc[0]
    assert t.ci_low > 0.01  # a significant violation, not noise


def test_drcc_costs_more_and_is_labeled():
    base = flexnet.solve(case(flexnet.DEFAULT_CASE), "centralized").dataset.attrs["total_cost"]
    r = drcc("cantelli", 0.05).dataset
    assert r.attrs["total_cost"] > base
    assert r.attrs["drcc_method"] == "cantelli"
    assert r.drcc_total_up.attrs["units"] == "MW"
    # the plan really holds the margin: reserves cover FR plus κ
    up = r.gen_r_up.sum("gen") + r.pcc_flex_up.sum("dso")
    ds = case(flexnet.DEFAULT_CASE).ds
    assert float((up - ds.fr_up - r.drcc_total_up).min()) > -1e-6


def test_missing_samples_is_a_clear_error():
    s = flexnet.System(case(flexnet.DEFAULT_CASE).ds.drop_vars("forecast_error")
                       .drop_dims("sample"), validate=False)
    with pytest.raises(flexnet.DataError, match="forecast_error"):
        solve_drcc(s)


def test_drcc_in_the_hierarchical_scheme_reaches_the_centralized_drcc_optimum():
    """Each ADMM agent adds the DRCC rows of its own part; the margins come from the whole
    system's samples, so the joint problem is the DRCC centralized LP."""
    h = solve_drcc(case(flexnet.DEFAULT_CASE), eps=0.05, scheme="hierarchical", progress=False)
    a, c = h.dataset.attrs, drcc("cantelli", 0.05).dataset.attrs
    assert a["scheme"] == "hierarchical+drcc"
    assert a["status"] == "optimal"
    assert a["objective"] == pytest.approx(c["objective"], rel=1e-3)
    table = validate_out_of_sample(h, n=10_000, seed=1)
    assert set(table.distribution) == {"gaussian", "skewed", "student-t"}
    assert {"reserve_up", "gen_upper", "voltage_lower", "branch", "pcc_upper"} <= set(table.family)
    bad = table[table.ci_high > table.eps]
    assert bad.empty, bad


def test_drcc_unknown_scheme_is_a_clear_error():
    with pytest.raises(ValueError, match="scheme"):
        solve_drcc(case(flexnet.DEFAULT_CASE), scheme="nested")
