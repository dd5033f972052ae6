"""Distributed generators: curtailable PV and dispatchable DG."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flexnet.blocks.common import coords

if TYPE_CHECKING:
    import linopy
    import xarray as xr

    from flexnet.grid.system import System


def add_der(m: linopy.Model, system: System, *, available: xr.DataArray | None = None,
            reserve: bool = True) -> linopy.LinearExpression | int:
    """Add ``Der-p`` with 0 ≤ p ≤ available (curtailment = available − p); return the cost.

    Reserve: ``Der-r-up-limit`` r↑ + p ≤ available, ``Der-r-down-limit`` r↓ ≤ p.
    Cost: Σ cost · p + c_flex (r↑ + r↓).
    """
    if system.n("der") == 0:
        return 0
    ds = system.ds
    avail = ds.der_p if available is None else available
    c = coords(system, "snapshot", "der")
    p = m.add_variables(lower=0, upper=avail, coords=c, name="Der-p")
    cost = (ds.der_cost * p).sum()
    if not reserve:
        return cost
    ru = m.add_variables(lower=0, coords=c, name="Der-r-up")
    rd = m.add_variables(lower=0, coords=c, name="Der-r-down")
    m.add_constraints(ru + p <= avail, name="Der-r-up-limit")
    m.add_constraints(rd - p <= 0, name="Der-r-down-limit")
    return cost + (ds.der_cost_flex * (ru + rd)).sum()
