"""The seeds study: its data variants, its table, and (slow) the whole run."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import case

import flexnet
from flexnet.study import inflexible, markdown, seeds_study, without_drp


def test_without_drp_pays_no_building():
    s = without_drp(case(flexnet.DEFAULT_CASE))
    assert float(s.ds.building_dr_max.max()) == 0.0
    r = flexnet.solve(s, "centralized").dataset
    assert float(r.building_dr.max()) == 0.0


def test_inflexible_moves_building_and_ev_demand_into_the_node_load():
    s = case(flexnet.DEFAULT_CASE)
    fixed = inflexible(s)
    assert "building" not in fixed.ds.dims
    assert "fleet" not in fixed.ds.dims
    ds = s.ds
    added = float((fixed.ds.node_p_load - ds.node_p_load).sum())
    ev = float(((ds.fleet_e_depart - ds.fleet_e_arrive).sum("snapshot").clip(min=0)
                / ds.fleet_eta).sum())
    assert added == pytest.approx(float(ds.building_p_baseline.sum()) + ev, rel=1e-9)
    # the interval bounds move with the load
    np.testing.assert_allclose((fixed.ds.node_p_load_upper - fixed.ds.node_p_load).values,
                               (ds.node_p_load_upper - ds.node_p_load).values, atol=1e-9)
    assert flexnet.solve(fixed, "centralized").dataset.attrs["status"] == "optimal"


def test_markdown_table():
    import pandas as pd

    text = markdown(pd.DataFrame({"a": ["x"], "b": [1234.5678], "c": [np.nan]}))
    assert text.splitlines() == ["| a | b | c |", "|---|---|---|", "| x | 1,234.57 |  |"]


@pytest.mark.slow
def test_seeds_study_runs_end_to_end(tmp_path):
    """About 2.5 min: every comparison on two DSOs and six hours."""
    table = seeds_study(out=tmp_path, quick=True, progress=False)
    assert (table.status == "optimal").all()
    assert {"seed 000: flexibility", "seed 000: interval", "seed 003: classification",
            "seed 003: DRCC"} <= set(table.study)
    for f in ("seeds.csv", "seeds.md", "seeds.png"):
        assert (tmp_path / f).exists()
    oneshot = table[table.run == "interval, oneshot"].iloc[0]
    assert oneshot.uncovered_mwh == 0.0
    drcc = table[table.study == "seed 003: DRCC"]
    assert (drcc.drcc_worst_ci_high <= 0.05).all()
