"""The vpp-market scheme: TVPPs clear in the wholesale market, DVPPs in the DSO's."""

from __future__ import annotations

import functools

import pytest
from conftest import case

import flexnet
from flexnet.vpp import classify

STRESSED = "rts24-dso-stressed"


@functools.cache
def variants() -> dict[str, dict]:
    s = case(STRESSED)
    table = classify(s)
    out = {}
    for name, t in (("classified", table), ("all TVPP", table.assign(vpp_class="TVPP")),
                    ("all DVPP", table.assign(vpp_class="DVPP"))):
        t.attrs = table.attrs
        out[name] = flexnet.solve(s, "vpp-market", vpp=t).dataset.attrs
    out["sequential"] = flexnet.solve(s, "sequential").dataset.attrs
    out["centralized"] = flexnet.solve(s, "centralized").dataset.attrs
    return out


def test_all_dvpp_is_the_sequential_scheme():
    """With no TVPP, step 1 is sequential's forecast, step 2 its TSO market and step 3 its
    repair: the same plan and cost."""
    v = variants()
    assert v["all DVPP"]["objective"] == pytest.approx(v["sequential"]["objective"], rel=1e-9)
    assert v["all DVPP"]["redispatch_mwh"] == 0.0
    assert v["all DVPP"]["vpp_tvpp_members"] == 0


def test_classification_is_a_market_choice():
    """The four variants differ; the joint optimum bounds them all from below; a wholesale
    market blind to the congesting feeders makes the DSOs move TVPP members back."""
    v = variants()
    costs = {k: v[k]["objective"] for k in ("classified", "all TVPP", "all DVPP")}
    assert len({round(c, 3) for c in costs.values()}) == 3
    for name, c in costs.items():
        assert v["centralized"]["objective"] <= c * (1 + 1e-9), name
        assert v[name]["status"] == "optimal"
        assert v[name]["voltage_violations"] == 0
        assert v[name]["branch_overloads"] == 0
    assert v["all TVPP"]["redispatch_mwh"] > v["classified"]["redispatch_mwh"] > 0
    # total cost counts the redispatch payments and the balancing settlement
    a = v["all TVPP"]
    assert a["total_cost"] == pytest.approx(a["objective"], rel=1e-9)


def test_vpp_market_needs_ts_and_dsos():
    with pytest.raises(flexnet.DataError, match="vpp-market"):
        flexnet.solve(case("rts24"), "vpp-market")
