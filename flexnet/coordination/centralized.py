"""Centralized scheme: the joint TS + all-DS optimum (a common TSO–DSO market)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import linopy

from flexnet import blocks as b
from flexnet.results import extract, finalize
from flexnet.solver import new_model, run_highs

if TYPE_CHECKING:
    from flexnet.grid.system import System
    from flexnet.results import Result


def add_ds_side(m: linopy.Model, system: System, *, reserve: bool,
                network: bool = True, tvpp: dict | None = None) -> list:
    """DS assets, shedding, LinDistFlow (and the PCC flexibility when ``reserve``;
    ``tvpp`` routes the reserve of TVPP members to the TSO, see
    :func:`flexnet.blocks.add_pcc_flexibility`)."""
    costs = [
        b.add_buildings(m, system, reserve=reserve),
        b.add_fleets(m, system, reserve=reserve),
        b.add_storage(m, system, reserve=reserve),
        b.add_der(m, system, reserve=reserve),
        b.add_ds_shedding(m, system),
    ]
    b.add_distribution(m, system, network=network)
    if reserve:
        b.add_pcc_flexibility(m, system, tvpp)
    return costs


def add_ts_side(m: linopy.Model, system: System, *, formulation: str, pcc=None) -> list:
    """Generators, wind, TS shedding, the DC network and the flexibility requirement."""
    costs = [b.add_generators(m, system), b.add_wind(m, system), b.add_ts_shedding(m, system)]
    b.add_ts_network(m, system, formulation, pcc=pcc)
    b.add_flexibility_requirement(m, system)
    return costs


def objective(m: linopy.Model, costs: list) -> None:
    """Sum the blocks' cost expressions into the objective."""
    terms = [c for c in costs if not isinstance(c, int | float)]
    m.add_objective(sum(terms[1:], terms[0]))


def build_centralized(system: System, formulation: str = "angle") -> linopy.Model:
    """Build the joint TSO–DSO market model.

    Feeder-only systems buy at the PCC at ``pcc_price``; TS-only systems are a DC-OPF
    with reserves.
    """
    m = new_model()
    costs = add_ds_side(m, system, reserve=system.has_ts)
    if system.has_ts:
        costs += add_ts_side(m, system, formulation=formulation)
    elif system.has_ds:
        costs.append((system.ds.pcc_price * m.variables["Pcc-p"]).sum())
    objective(m, costs)
    return m


def solve_centralized(system: System, *, formulation: str = "angle",
                      hook: Callable[[linopy.Model], None] | None = None,
                      **options: Any) -> Result:
    """Solve the centralized scheme and return labeled results.

    ``hook(m)`` may add constraints to the built model before the solve (used by the
    interval algorithm to reserve BESS headroom).
    """
    m = build_centralized(system, formulation)
    if hook is not None:
        hook(m)
    status = run_highs(m, scheme="centralized", system=system, options=options)
    res = extract(m, system)
    return finalize(res, system, scheme="centralized", status=status,
                    objective=float(m.objective.value),
                    extra={"formulation": formulation})
