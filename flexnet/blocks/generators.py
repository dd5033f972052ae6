"""Transmission generators: output, up/down reserve, ramping, linear costs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flexnet.blocks.common import coords, prev

if TYPE_CHECKING:
    import linopy

    from flexnet.grid.system import System


def add_generators(m: linopy.Model, system: System) -> linopy.LinearExpression | int:
    """Add ``Gen-p``, ``Gen-r-up``, ``Gen-r-down`` and their limits; return the cost.

    Constraints (named, so their duals exist):

    - ``Gen-p-upper``: p + r↑ ≤ P̄
    - ``Gen-p-lower``: p − r↓ ≥ P̲
    - ``Gen-ramp-up`` / ``Gen-ramp-down``: ±(p_t − p_{t−1}) ≤ ramp (t ≥ 1)
    - reserves are deliverable within the hour: 0 ≤ r↑, r↓ ≤ ramp (variable bounds)

    Cost: Σ c·p + c↑·r↑ + c↓·r↓.
    """
    if system.n("gen") == 0:
        return 0
    ds = system.ds
    c = coords(system, "snapshot", "gen")
    p = m.add_variables(lower=0, coords=c, name="Gen-p")
    ru = m.add_variables(lower=0, upper=ds.gen_ramp, coords=c, name="Gen-r-up")
    rd = m.add_variables(lower=0, upper=ds.gen_ramp, coords=c, name="Gen-r-down")
    m.add_constraints(p + ru <= ds.gen_p_max, name="Gen-p-upper")
    m.add_constraints(p - rd >= ds.gen_p_min, name="Gen-p-lower")
    if system.ds.sizes["snapshot"] > 1:
        step = p - prev(p)
        m.add_constraints(step <= ds.gen_ramp, name="Gen-ramp-up", mask=ds.snapshot > ds.snapshot[0])
        m.add_constraints(-step <= ds.gen_ramp, name="Gen-ramp-down",
                          mask=ds.snapshot > ds.snapshot[0])
    return (ds.gen_cost * p + ds.gen_cost_r_up * ru + ds.gen_cost_r_down * rd).sum()
