"""Wind farms with curtailment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flexnet.blocks.common import coords

if TYPE_CHECKING:
    import linopy
    import xarray as xr

    from flexnet.grid.system import System


def add_wind(m: linopy.Model, system: System, available: xr.DataArray | None = None) -> int:
    """Add ``Wind-p`` with ``Wind-p-upper``: p ≤ available (curtailment = available − p).

    ``available`` overrides the forecast ``wind_p`` (used by scenario solves). Wind has
    no cost, so the returned cost is 0.
    """
    if system.n("wind") == 0:
        return 0
    avail = system.ds.wind_p if available is None else available
    p = m.add_variables(lower=0, coords=coords(system, "snapshot", "wind"), name="Wind-p")
    m.add_constraints(p <= avail, name="Wind-p-upper")
    return 0
