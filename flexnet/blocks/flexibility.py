"""TSO flexibility requirement and the DSOs' flexibility offered through the PCC."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from flexnet.blocks.common import DS_RESERVE, aggregate_vars, asset_dso, coords, identity

if TYPE_CHECKING:
    from collections.abc import Mapping

    import linopy

    from flexnet.grid.system import System


def add_pcc_flexibility(m: linopy.Model, system: System,
                        tvpp: Mapping[str, np.ndarray] | None = None) -> int:
    """Aggregate DS assets' reserve per DSO and fit it through the PCC transformer.

    - ``Pcc-r-up-balance``/``Pcc-r-down-balance``: R_dso = Σ asset reserve in the DSO
    - ``Pcc-flex-up``: P_pcc − R↑ ≥ −S̄ and ``Pcc-flex-down``: P_pcc + R↓ ≤ S̄

    Distribution-grid limits under reserve *deployment* are not modeled (the schedule
    itself satisfies them); see docs/schemes.md.

    ``tvpp`` maps an asset dim (``"storage"``, ...) to a boolean array marking the assets
    that belong to transmission-level VPPs. Their reserve is offered to the TSO directly as
    ``Tvpp-r-up``/``Tvpp-r-down`` (snapshot, dso) instead of through the DSO's local
    market (``Pcc-r-*``); both must fit through the PCC transformer.
    """
    if not system.has_ds:
        return 0
    ds = system.ds
    dsos = ds.indexes["dso"]
    c = coords(system, "snapshot", "dso")
    routes = [("Pcc", False), ("Tvpp", True)] if tvpp is not None else [("Pcc", False)]
    for direction in ("up", "down"):
        for prefix, member in routes:
            r = m.add_variables(lower=0, coords=c, name=f"{prefix}-r-{direction}")
            terms = [(r, identity(dsos, "dso"), 1.0)]
            for block, field in DS_RESERVE:
                if f"{block}-r-{direction}" not in m.variables:
                    continue
                owner = asset_dso(system, field)
                if tvpp is not None:  # assets of the other route map to no DSO (dropped)
                    mask = np.asarray(tvpp.get(owner.dims[0], np.zeros(owner.size, bool)))
                    owner = owner.where(mask == member, "")
                terms.append((m.variables[f"{block}-r-{direction}"], owner, -1.0))
            m.add_constraints(aggregate_vars(terms, "dso", dsos) == 0,
                              name=f"{prefix}-r-{direction}-balance")
    add_transformer_headroom(m, system)
    return 0


def add_transformer_headroom(m: linopy.Model, system: System) -> None:
    """``Pcc-flex-up``: P_pcc − Σ R↑ ≥ −S̄ and ``Pcc-flex-down``: P_pcc + Σ R↓ ≤ S̄, over the
    reserve routes present (``Pcc-r-*`` and, with VPP classification, ``Tvpp-r-*``)."""
    ds = system.ds
    p = m.variables["Pcc-p"]
    up = [m.variables[n] for n in ("Pcc-r-up", "Tvpp-r-up") if n in m.variables]
    down = [m.variables[n] for n in ("Pcc-r-down", "Tvpp-r-down") if n in m.variables]
    m.add_constraints(p - sum(up[1:], up[0]) >= -ds.dso_s_max, name="Pcc-flex-up")
    m.add_constraints(p + sum(down[1:], down[0]) <= ds.dso_s_max, name="Pcc-flex-down")


def add_flexibility_requirement(m: linopy.Model, system: System) -> int:
    """Add ``Reserve-up-requirement``/``Reserve-down-requirement`` (snapshot).

    Σ_g r_g + Σ_dso R_dso ≥ FR per direction; the duals are the flexibility prices.
    """
    if not system.has_ts:
        return 0
    ds = system.ds
    for direction, fr in (("up", ds.fr_up), ("down", ds.fr_down)):
        terms = [m.variables[n].sum(d) for n, d in ((f"Gen-r-{direction}", "gen"),
                                                    (f"Pcc-r-{direction}", "dso"),
                                                    (f"Tvpp-r-{direction}", "dso"))
                 if n in m.variables]
        if not terms:
            continue
        m.add_constraints(sum(terms[1:], terms[0]) >= fr, name=f"Reserve-{direction}-requirement")
    return 0
