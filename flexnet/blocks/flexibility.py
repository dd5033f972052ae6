"""TSO flexibility requirement and the DSOs' flexibility offered through the PCC."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flexnet.blocks.common import DS_RESERVE, aggregate_vars, asset_dso, coords, identity

if TYPE_CHECKING:
    import linopy

    from flexnet.grid.system import System


def add_pcc_flexibility(m: linopy.Model, system: System) -> int:
    """Aggregate DS assets' reserve per DSO and fit it through the PCC transformer.

    - ``Pcc-r-up-balance``/``Pcc-r-down-balance``: R_dso = Σ asset reserve in the DSO
    - ``Pcc-flex-up``: P_pcc − R↑ ≥ −S̄ and ``Pcc-flex-down``: P_pcc + R↓ ≤ S̄

    Distribution-grid limits under reserve *deployment* are not modeled (the schedule
    itself satisfies them); see docs/schemes.md.
    """
    if not system.has_ds:
        return 0
    ds = system.ds
    dsos = ds.indexes["dso"]
    c = coords(system, "snapshot", "dso")
    for direction in ("up", "down"):
        r = m.add_variables(lower=0, coords=c, name=f"Pcc-r-{direction}")
        terms = [(r, identity(dsos, "dso"), 1.0)] + [
            (m.variables[f"{block}-r-{direction}"], asset_dso(system, field), -1.0)
            for block, field in DS_RESERVE if f"{block}-r-{direction}" in m.variables]
        m.add_constraints(aggregate_vars(terms, "dso", dsos) == 0,
                          name=f"Pcc-r-{direction}-balance")
    p = m.variables["Pcc-p"]
    m.add_constraints(p - m.variables["Pcc-r-up"] >= -ds.dso_s_max, name="Pcc-flex-up")
    m.add_constraints(p + m.variables["Pcc-r-down"] <= ds.dso_s_max, name="Pcc-flex-down")
    return 0


def add_flexibility_requirement(m: linopy.Model, system: System) -> int:
    """Add ``Reserve-up-requirement``/``Reserve-down-requirement`` (snapshot).

    Σ_g r_g + Σ_dso R_dso ≥ FR per direction; the duals are the flexibility prices.
    """
    if not system.has_ts:
        return 0
    ds = system.ds
    for direction, fr in (("up", ds.fr_up), ("down", ds.fr_down)):
        terms = [m.variables[n].sum(d) for n, d in ((f"Gen-r-{direction}", "gen"),
                                                    (f"Pcc-r-{direction}", "dso"))
                 if n in m.variables]
        if not terms:
            continue
        m.add_constraints(sum(terms[1:], terms[0]) >= fr, name=f"Reserve-{direction}-requirement")
    return 0
