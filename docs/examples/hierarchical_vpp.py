"""Classify the default case's resources into VPPs and run the hierarchical market.

A 4-hour, two-DSO cut of the default case keeps this example quick.
"""

import flexnet
from flexnet import vpp

s = flexnet.load_case("rts24-dso").select(["DSO1", "DSO2"], hours=4)
table = vpp.classify(s)
print(table.groupby(["vpp_class", "kind"]).size())
offers = vpp.aggregate_offers(s, table)
print(offers.vpp_flex_up.sum("snapshot").to_series())

r = flexnet.solve(s, "hierarchical-vpp", progress=False)
c = flexnet.solve(s, "centralized")
print(r.dataset.attrs["admm_iterations"], "iterations")
gap = r.dataset.attrs["total_cost"] / c.dataset.attrs["total_cost"] - 1
print(f"cost gap to the centralized optimum: {gap:.1e}")
assert abs(gap) < 1e-3
