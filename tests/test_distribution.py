"""LinDistFlow against an AC backward/forward sweep on the IEEE 33-bus feeder."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import case, solved


def ac_sweep(system, t: int, tol: float = 1e-10) -> np.ndarray:
    """Backward/forward sweep AC power flow of a radial feeder (constant-PQ loads).

    Independent of the optimization code: it works on complex currents and voltages
    in physical units (kV, MVA, Ω) from the raw system data.
    """
    ds = system.ds
    nodes = ds.indexes["node"]
    parent = nodes.get_indexer(ds.branch_node0.values)
    child = nodes.get_indexer(ds.branch_node1.values)
    z = ds.branch_r.values + 1j * ds.branch_x.values
    s = ds.node_p_load.isel(snapshot=t).values + 1j * ds.node_q_load.isel(snapshot=t).values
    vn = float(ds.dso_v_nom.values[0])
    v0 = float(ds.dso_v0.values[0]) * vn / np.sqrt(3)  # phase voltage, kV
    root = nodes.get_loc(ds.dso_root.values[0])
    # order children after parents (BFS depth) for the forward sweep
    depth = np.zeros(nodes.size, int)
    for _ in range(nodes.size):
        depth[child] = depth[parent] + 1
    order = np.argsort(depth[child])
    v = np.full(nodes.size, v0, dtype=complex)
    for _ in range(100):
        i_load = np.conj(s / 3 / v)  # per-phase current in kA (MVA / kV)
        i_br = np.zeros(child.size, complex)
        down = i_load.copy()
        for k in order[::-1]:  # backward: accumulate currents towards the root
            i_br[k] = down[child[k]]
            down[parent[k]] += down[child[k]]
        new = v.copy()
        new[root] = v0
        for k in order:  # forward: voltage drops away from the root
            new[child[k]] = new[parent[k]] - z[k] * i_br[k]
        if np.max(np.abs(new - v)) < tol:
            v = new
            break
        v = new
    return np.abs(v) / (vn / np.sqrt(3))


def test_lindistflow_within_1pct_of_ac():
    s = case("ieee33")
    r = solved("ieee33", "centralized")
    t = int(np.argmax(s.ds.node_p_load.sum("node").values))  # the published (peak) load
    assert float(s.ds.node_p_load.isel(snapshot=t).sum()) == pytest.approx(3.715)
    v_ac = ac_sweep(s, t)
    v_ldf = r["node_v"].isel(snapshot=t).values
    # published AC minimum of case33bw: 0.9131 p.u. at node 18 (Baran & Wu 1989)
    assert abs(v_ac.min() - 0.9131) < 5e-4
    assert np.max(np.abs(v_ldf - v_ac)) < 0.01
    assert int(np.argmin(v_ldf)) == int(np.argmin(v_ac))


def test_voltage_limits_hold_on_default_case(default_centralized, default_case):
    ds = default_case.ds
    v = default_centralized["node_v"]
    vmin = ds.dso_v_min.sel(dso=ds.node_dso.values).values
    assert float((v - vmin).min()) > -1e-6
    assert float(default_centralized["branch_loading"].max()) <= 1 + 1e-6
