"""DRCC on the default case: Wasserstein margins, validated out of sample."""

import flexnet
from flexnet.uncertainty import solve_drcc, validate_out_of_sample

s = flexnet.load_case("rts24-dso")
r = solve_drcc(s, eps=0.05, method="wasserstein")
table = validate_out_of_sample(r, n=10_000, distributions=("student-t",))
print(table[["family", "rate", "ci_high", "eps"]].to_string(index=False))
assert (table.ci_high <= table.eps).all()
