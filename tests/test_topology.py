"""Sparse DC network (flexnet.grid.topology): flows, PTDF rows and PTDFᵀμ by sparse
solves equal the dense inverse they replace."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from conftest import case

import flexnet
from flexnet.grid.topology import DROP_TOL, dc_network, incidence


def _dense_ptdf(s: flexnet.System) -> np.ndarray:
    """PTDF by inverting the reduced susceptance matrix densely (the reference)."""
    A = incidence(s).toarray()
    b = float(s.ds.attrs["base_mva"]) / s.ds.line_x.values
    B = A.T @ np.diag(b) @ A
    X = np.zeros_like(B)
    X[1:, 1:] = np.linalg.inv(B[1:, 1:])
    return np.diag(b) @ A @ X


@pytest.mark.parametrize("name", ["rts24", "ieee118"])
def test_sparse_network_equals_the_dense_inverse(name):
    s = case(name)
    dc = dc_network(s)
    H = _dense_ptdf(s)
    np.testing.assert_allclose(dc.ptdf().values, np.where(np.abs(H) < DROP_TOL, 0.0, H),
                               atol=1e-12)
    rng = np.random.default_rng(0)
    p = rng.normal(size=(3, s.n("bus")))
    p -= p.mean(axis=1, keepdims=True)  # balanced injections
    inj = xr.DataArray(p, coords=[[0, 1, 2], s.ds.indexes["bus"]], dims=["snapshot", "bus"])
    np.testing.assert_allclose(dc.flows(inj).values, p @ H.T, atol=1e-9)
    mu = rng.normal(size=(3, s.n("line")))
    mua = xr.DataArray(mu, coords=[[0, 1, 2], s.ds.indexes["line"]], dims=["snapshot", "line"])
    np.testing.assert_allclose(dc.ptdf_t(mua).values, mu @ H, atol=1e-9)
    rows = [0, 5, s.n("line") - 1]
    np.testing.assert_allclose(dc.ptdf_rows(np.array(rows)), dc.ptdf().values[rows], atol=0)


def test_the_factorization_is_cached_and_renewed_on_change():
    s = case("rts24")
    assert dc_network(s) is dc_network(s)
    old = dc_network(s)
    s.ds["line_x"] = s.ds.line_x * 2
    assert dc_network(s) is not old


def test_islands_are_refused_by_bus():
    s = case("rts24")
    ds = s.ds.copy()
    lines = [ln for ln in ds.line.values
             if "1" not in (ds.line_bus0.sel(line=ln).item(), ds.line_bus1.sel(line=ln).item())]
    with pytest.raises(flexnet.DataError, match="bus '1': the transmission grid has 2 islands"):
        dc_network(flexnet.System(ds.sel(line=lines), validate=False))


def test_tree_sums_and_orientation_on_a_small_feeder():
    from flexnet.grid.topology import downstream_sum, orient_tree, path_sums

    # edges given in any direction: 1-0, 1-2, 3-1; root 0 → parents 0, 1, 1
    parent, child = orient_tree(4, np.array([1, 1, 3]), np.array([0, 2, 1]), 0, "f")
    assert sorted(zip(parent.tolist(), child.tolist(), strict=True)) == [(0, 1), (1, 2), (1, 3)]
    np.testing.assert_allclose(downstream_sum(np.array([0, 1, 1]), np.array([1, 2, 3]),
                                              np.array([1.0, 2, 3, 4])), [10, 9, 3, 4])
    np.testing.assert_allclose(path_sums(np.array([0, 1, 1]), np.array([1, 2, 3]),
                                         np.array([1.0, 10, 100]), 4), [0, 1, 11, 101])
    with pytest.raises(flexnet.DataError, match="feeder f: not a connected radial network"):
        orient_tree(4, np.array([0, 2]), np.array([1, 3]), 0, "f")


def test_dc_flows_of_raw_arrays_equal_the_systems_dc_network():
    from flexnet.grid.topology import dc_flows

    s = case("rts24")
    ds = s.ds
    buses = ds.indexes["bus"]
    a, b = buses.get_indexer(ds.line_bus0.values), buses.get_indexer(ds.line_bus1.values)
    inj = np.random.default_rng(0).normal(0, 50, buses.size)
    inj -= inj.mean()
    want = dc_network(s).flows(xr.DataArray(inj[None], coords={"snapshot": [0], "bus": buses}))
    np.testing.assert_allclose(dc_flows(buses.size, a, b, ds.line_x.values, inj),
                               want.values.ravel(), rtol=1e-9, atol=1e-9)
