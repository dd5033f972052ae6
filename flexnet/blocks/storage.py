"""Battery energy storage systems (BESS)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flexnet.blocks.common import coords, first

if TYPE_CHECKING:
    import linopy

    from flexnet.grid.system import System


def add_storage(m: linopy.Model, system: System, *,
                reserve: bool = True) -> linopy.LinearExpression | int:
    """Add BESSs; return degradation plus reserve offer costs.

    - 0 ≤ c_t, d_t ≤ P̄; soc_min E ≤ s_t ≤ soc_max E (MWh, bounds)
    - ``Storage-soc-balance``: s_t = s_{t−1} + η_c c_t − d_t / η_d. Cyclic storages wrap
      around (s_{−1} = s_{T−1}, start free as in PyPSA); the others start at soc_init · E.
    - reserve: ``Storage-r-up-power`` r↑ ≤ P̄ − d + c, ``Storage-r-up-energy``
      r↑ ≤ η_d (s − soc_min E); ``Storage-r-down-power`` r↓ ≤ P̄ − c + d,
      ``Storage-r-down-energy`` r↓ ≤ (soc_max E − s) / η_c (one hour of delivery)

    Cost: Σ cost · d + c_flex (r↑ + r↓).
    """
    if system.n("storage") == 0:
        return 0
    ds = system.ds
    c = coords(system, "snapshot", "storage")
    e = ds.storage_e_max
    ch = m.add_variables(lower=0, upper=ds.storage_p_max, coords=c, name="Storage-p-charge")
    dis = m.add_variables(lower=0, upper=ds.storage_p_max, coords=c, name="Storage-p-discharge")
    soc = m.add_variables(lower=ds.storage_soc_min * e, upper=ds.storage_soc_max * e, coords=c,
                          name="Storage-soc")
    is_first = first(system)
    cyclic = ds.storage_cyclic
    before = soc.roll(snapshot=1).where(cyclic | ~is_first).fillna(0)
    m.add_constraints(soc - before - ds.storage_eta_c * ch + dis / ds.storage_eta_d
                      == (ds.storage_soc_init * e).where(~cyclic & is_first, 0.0),
                      name="Storage-soc-balance")
    cost = (ds.storage_cost * dis).sum()
    if not reserve:
        return cost
    ru = m.add_variables(lower=0, coords=c, name="Storage-r-up")
    rd = m.add_variables(lower=0, coords=c, name="Storage-r-down")
    m.add_constraints(ru + dis - ch <= ds.storage_p_max, name="Storage-r-up-power")
    m.add_constraints(ru - ds.storage_eta_d * soc <= -ds.storage_eta_d * ds.storage_soc_min * e,
                      name="Storage-r-up-energy")
    m.add_constraints(rd + ch - dis <= ds.storage_p_max, name="Storage-r-down-power")
    m.add_constraints(ds.storage_eta_c * rd + soc <= ds.storage_soc_max * e,
                      name="Storage-r-down-energy")
    return cost + (ds.storage_cost_flex * (ru + rd)).sum()
