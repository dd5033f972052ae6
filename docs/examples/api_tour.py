"""API tour: load a case, solve two schemes, read labeled results, check residuals."""

import flexnet
from flexnet.checks import residuals

s = flexnet.load_case("ieee33")  # a feeder buying at the PCC
print(s)
r = flexnet.solve(s, "centralized")
print(r.summary())
print("worst voltage:", float(r["node_v"].min()))
assert max(residuals(r).values()) < 1e-6
