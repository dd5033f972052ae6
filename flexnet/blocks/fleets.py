"""EV fleets: aggregated energy balance with arrivals/departures, chargers, V2G."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from flexnet.blocks.common import coords, first, last, prev

if TYPE_CHECKING:
    import linopy

    from flexnet.grid.system import System


def add_fleets(m: linopy.Model, system: System, *,
               reserve: bool = True) -> linopy.LinearExpression | int:
    """Add EV fleets; return their reserve offer cost.

    - 0 ≤ P_c,t ≤ N_conn,t P̄_c and 0 ≤ P_d,t ≤ v2g · N_conn,t P̄_c (variable bounds)
    - ``Fleet-energy-balance``: E_t = E_{t−1} + η P_c,t − P_d,t / η + E_arr,t − E_dep,t,
      E_{−1} = E_init. E_dep is the energy departing EVs must carry away, so the
      departure energy need holds whenever E_t ≥ 0.
    - 0 ≤ E_t ≤ N_conn,t · E_ev (bounds); ``Fleet-energy-end``:
      E_{T−1} ≥ min(E_init, N_conn,T−1 · E_ev)
    - reserve: ``Fleet-r-up-limit`` r↑ ≤ P_c − P_d + v2g N_conn P̄_c,
      ``Fleet-r-down-limit`` r↓ ≤ N_conn P̄_c − P_c + P_d
    """
    if system.n("fleet") == 0:
        return 0
    ds = system.ds
    c = coords(system, "snapshot", "fleet")
    cap = ds.fleet_connected * ds.fleet_p_charger
    v2g = ds.fleet_v2g.astype(float)
    ch = m.add_variables(lower=0, upper=cap, coords=c, name="Fleet-p-charge")
    dis = m.add_variables(lower=0, upper=v2g * cap, coords=c, name="Fleet-p-discharge")
    e = m.add_variables(lower=0, upper=ds.fleet_connected * ds.fleet_e_ev, coords=c,
                        name="Fleet-energy")
    m.add_constraints(e - prev(e) - ds.fleet_eta * ch + dis / ds.fleet_eta
                      == ds.fleet_e_arrive - ds.fleet_e_depart + ds.fleet_e_init * first(system),
                      name="Fleet-energy-balance")
    # ends the day with its initial energy, or as much as the EVs still connected hold (a
    # horizon cut at midday, System.select(hours=12), leaves few EVs plugged in)
    end = np.minimum(ds.fleet_e_init, ds.fleet_connected * ds.fleet_e_ev)
    m.add_constraints(e >= end, name="Fleet-energy-end", mask=last(system))
    if not reserve:
        return 0
    ru = m.add_variables(lower=0, coords=c, name="Fleet-r-up")
    rd = m.add_variables(lower=0, coords=c, name="Fleet-r-down")
    m.add_constraints(ru - ch + dis <= v2g * cap, name="Fleet-r-up-limit")
    m.add_constraints(rd + ch - dis <= cap, name="Fleet-r-down-limit")
    return (ds.fleet_cost_flex * (ru + rd)).sum()
