"""Smart buildings: 1R1C thermal model, shiftable load, PV, battery, DR against a baseline."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from flexnet.blocks.common import coords, first, last, prev
from flexnet.blocks.drp import drp_reward

if TYPE_CHECKING:
    import linopy
    import xarray as xr

    from flexnet.grid.system import System

#: round-trip split of the behind-the-meter battery (charge and discharge efficiency)
BATT_ETA = 0.95


def add_buildings(m: linopy.Model, system: System, *, reward: xr.DataArray | None = None,
                  reserve: bool = True) -> linopy.LinearExpression | int:
    """Add smart buildings; return the DR reward payments plus reserve offer costs.

    Per building b and hour t (Δt = 1 h), with a = exp(−1 / (R C)):

    - ``Building-thermal``: T_t = a T_{t−1} + (1 − a)(T_out,t + η R P_hvac,t), T_{−1} = T_init
    - ``Building-temperature-lower``/``-upper``: T_min ≤ T_t ≤ T_max
    - ``Building-shift-energy``: Σ_t P_shift,t = E_shift, 0 ≤ P_shift ≤ P̄_shift
    - PV: 0 ≤ P_pv ≤ available (curtailable)
    - battery: ``Building-batt-balance`` s_t = s_{t−1} + η c_t − d_t / η, s_{−1} = s_end = E/2
    - ``Building-p-def``: P = P_base + P_hvac + P_shift + c − d − P_pv (net load, may be < 0)
    - ``Building-dr-baseline``: DR_t ≥ baseline_t − P_t, 0 ≤ DR_t ≤ DR̄ (reduction paid at ρ_t)
    - reserve (if ``reserve``): r↑ ≤ P_hvac + P_shift (``Building-r-up-limit``),
      r↓ ≤ P̄_hvac − P_hvac (``Building-r-down-limit``)

    Cost: Σ ρ_t DR_t + c_flex (r↑ + r↓).
    """
    if system.n("building") == 0:
        return 0
    ds = system.ds
    c = coords(system, "snapshot", "building")
    a = np.exp(-1.0 / (ds.building_r * ds.building_c))
    gain = (1 - a) * ds.building_eta * ds.building_r
    hvac = m.add_variables(lower=0, upper=ds.building_hvac_max, coords=c, name="Building-p-hvac")
    temp = m.add_variables(coords=c, name="Building-temperature")
    m.add_constraints(temp - a * prev(temp) - gain * hvac
                      == (1 - a) * ds.t_out + a * ds.building_t_init * first(system),
                      name="Building-thermal")
    m.add_constraints(temp >= ds.building_t_min, name="Building-temperature-lower")
    m.add_constraints(temp <= ds.building_t_max, name="Building-temperature-upper")
    shift = m.add_variables(lower=0, upper=ds.building_shift_max, coords=c, name="Building-p-shift")
    m.add_constraints(shift.sum("snapshot") == ds.building_shift_energy,
                      name="Building-shift-energy")
    pv = m.add_variables(lower=0, upper=ds.building_pv, coords=c, name="Building-p-pv")
    ch = m.add_variables(lower=0, upper=ds.building_batt_p, coords=c, name="Building-batt-charge")
    dis = m.add_variables(lower=0, upper=ds.building_batt_p, coords=c,
                          name="Building-batt-discharge")
    soc = m.add_variables(lower=0, upper=ds.building_batt_e, coords=c, name="Building-batt-soc")
    half = 0.5 * ds.building_batt_e
    m.add_constraints(soc - prev(soc) - BATT_ETA * ch + dis / BATT_ETA == half * first(system),
                      name="Building-batt-balance")
    m.add_constraints(soc == half, name="Building-batt-end", mask=last(system))
    p = m.add_variables(coords=c, name="Building-p")
    m.add_constraints(p - hvac - shift - ch + dis + pv == ds.building_p_base, name="Building-p-def")
    dr = m.add_variables(lower=0, upper=ds.building_dr_max, coords=c, name="Building-dr")
    m.add_constraints(dr + p >= ds.building_p_baseline, name="Building-dr-baseline")
    rho = drp_reward(system) if reward is None else reward
    cost = (rho * dr).sum()
    if reserve:
        ru = m.add_variables(lower=0, coords=c, name="Building-r-up")
        rd = m.add_variables(lower=0, coords=c, name="Building-r-down")
        m.add_constraints(ru - hvac - shift <= 0, name="Building-r-up-limit")
        m.add_constraints(rd + hvac <= ds.building_hvac_max, name="Building-r-down-limit")
        cost = cost + (ds.building_cost_flex * (ru + rd)).sum()
    return cost
