"""Load shedding at VOLL on the transmission and distribution systems."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flexnet.blocks.common import coords

if TYPE_CHECKING:
    import linopy
    import xarray as xr

    from flexnet.grid.system import System


def add_ts_shedding(m: linopy.Model, system: System,
                    demand: xr.DataArray | None = None) -> linopy.LinearExpression | int:
    """Add ``Load-shed`` (snapshot, load) with ``Load-shed-upper``: shed ≤ demand.

    Returns the cost VOLL · Σ shed.
    """
    if system.n("load") == 0:
        return 0
    d = system.ds.load_p if demand is None else demand
    shed = m.add_variables(lower=0, coords=coords(system, "snapshot", "load"), name="Load-shed")
    m.add_constraints(shed <= d, name="Load-shed-upper")
    return float(system.ds.attrs["voll"]) * shed.sum()


def add_ds_shedding(m: linopy.Model, system: System,
                    demand: xr.DataArray | None = None) -> linopy.LinearExpression | int:
    """Add ``Node-shed`` (snapshot, node) with ``Node-shed-upper``: shed ≤ node demand.

    Shedding curtails active demand only (reactive demand stays). Cost VOLL · Σ shed.
    """
    if system.n("node") == 0:
        return 0
    d = system.ds.node_p_load if demand is None else demand
    shed = m.add_variables(lower=0, coords=coords(system, "snapshot", "node"), name="Node-shed")
    m.add_constraints(shed <= d, name="Node-shed-upper")
    return float(system.ds.attrs["voll"]) * shed.sum()
