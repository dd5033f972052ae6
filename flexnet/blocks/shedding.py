"""Load shedding, and spilling a surplus, at VOLL on the transmission and distribution systems."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flexnet.blocks.common import coords

if TYPE_CHECKING:
    import linopy
    import xarray as xr

    from flexnet.grid.system import System


def _shedding(m: linopy.Model, system: System, element: str, name: str,
              demand: xr.DataArray) -> linopy.LinearExpression | int:
    if system.n(element) == 0:
        return 0
    shed = m.add_variables(lower=0, coords=coords(system, "snapshot", element), name=name)
    m.add_constraints(shed <= demand, name=f"{name}-upper")
    return float(system.ds.attrs["voll"]) * shed.sum()


def add_ts_shedding(m: linopy.Model, system: System,
                    demand: xr.DataArray | None = None) -> linopy.LinearExpression | int:
    """Add ``Load-shed`` (snapshot, load) with ``Load-shed-upper``: shed ≤ demand.

    Returns the cost VOLL · Σ shed.
    """
    d = system.ds.get("load_p") if demand is None else demand
    return _shedding(m, system, "load", "Load-shed", d)


def add_ds_shedding(m: linopy.Model, system: System,
                    demand: xr.DataArray | None = None) -> linopy.LinearExpression | int:
    """Add ``Node-shed`` (snapshot, node) with ``Node-shed-upper``: shed ≤ node demand.

    Shedding curtails active demand only (reactive demand stays). Cost VOLL · Σ shed.
    """
    d = system.ds.get("node_p_load") if demand is None else demand
    return _shedding(m, system, "node", "Node-shed", d)


def add_ts_spill(m: linopy.Model, system: System) -> linopy.LinearExpression:
    """Add ``Bus-spill`` (snapshot, bus): a surplus withdrawn at a bus that nothing else can
    absorb (a scenario check with dispatch fixed), at VOLL; the TS balance counts it."""
    spill = m.add_variables(lower=0, coords=coords(system, "snapshot", "bus"), name="Bus-spill")
    return float(system.ds.attrs["voll"]) * spill.sum()


def add_ds_spill(m: linopy.Model, system: System) -> linopy.LinearExpression:
    """Add ``Node-spill`` (snapshot, node): a surplus withdrawn at a DS node, at VOLL; the
    nodal balances count it (add it before :func:`~flexnet.blocks.add_distribution`)."""
    spill = m.add_variables(lower=0, coords=coords(system, "snapshot", "node"), name="Node-spill")
    return float(system.ds.attrs["voll"]) * spill.sum()
