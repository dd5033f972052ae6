"""pandapower importer, checked against the MATPOWER importer on the same published cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import case

import flexnet
from flexnet.grid.matpower import ts_from_matpower

pp = pytest.importorskip("pandapower")
pn = pytest.importorskip("pandapower.networks")


def test_ts_matches_matpower_importer():
    """pandapower's case9 is MATPOWER's case9: both importers must give the same optimum."""
    mp = pytest.importorskip("matpower")
    from flexnet.grid.pandapower import ts_from_pandapower

    a = flexnet.System(ts_from_pandapower(pn.case9()).assign_attrs(name="pp9"))
    b = flexnet.System(ts_from_matpower(Path(mp.__file__).parent / "data" / "case9.m")
                       .assign_attrs(name="mp9"))
    assert float(a.ds.load_p.sum()) == pytest.approx(float(b.ds.load_p.sum()))
    assert sorted(a.ds.line_x.values) == pytest.approx(sorted(b.ds.line_x.values), rel=1e-6)
    ra, rb = flexnet.solve(a), flexnet.solve(b)
    assert ra.dataset.attrs["objective"] == pytest.approx(rb.dataset.attrs["objective"], rel=1e-6)


def test_feeder_matches_shipped_ieee33():
    from flexnet.grid.pandapower import feeder_from_pandapower

    ds = feeder_from_pandapower(pn.case33bw(), "pp33")
    s = flexnet.System(ds)
    ref = case("ieee33").ds
    assert float(s.ds.node_p_load.sum()) == pytest.approx(3.715)
    assert float(s.ds.node_q_load.sum()) == pytest.approx(2.3)
    np.testing.assert_allclose(np.sort(s.ds.branch_r.values), np.sort(ref.branch_r.values),
                               rtol=1e-3)
    r = flexnet.solve(s)
    v_ref = flexnet.solve(case("ieee33"))["node_v"].isel(snapshot=17).values
    assert float(r["node_v"].min()) == pytest.approx(float(v_ref.min()), abs=2e-3)


def test_missing_pmax_is_a_clear_error():
    from flexnet.grid.pandapower import ts_from_pandapower

    net = pn.case9()
    net.gen.loc[0, "max_p_mw"] = np.nan
    with pytest.raises(flexnet.DataError, match="gen 0: field 'max_p_mw'"):
        ts_from_pandapower(net)



