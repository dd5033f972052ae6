"""Compose a TSO–DSO system from your own grids: a pandapower transmission net, two
CIGRE MV feeders imported from pandapower (switches honoured, one feeder per HV/MV
transformer, its PV as curtailable assets) and a battery, solved centrally.

Run: python docs/examples/compose.py  (needs the pandapower extra)
"""

import warnings

import numpy as np
import pandapower.networks as pn
import xarray as xr

import flexnet
from flexnet.grid.assets import profiles
from flexnet.grid.pandapower import feeders_from_pandapower, ts_from_pandapower

warnings.simplefilter("ignore", FutureWarning)  # pandapower's pandas chatter

hours = profiles(24)
# 1. the transmission grid: pandapower's IEEE 39-bus (New England) case over a day
ts = ts_from_pandapower(pn.case39(), load_profile=hours["load"].to_numpy())
# 2. two feeders: CIGRE MV has two HV/MV transformers, so it gives two feeders
feeders = feeders_from_pandapower(pn.create_cigre_network_mv(with_der="pv_wind"), "cigre",
                                  load_profile=hours["load"].to_numpy(),
                                  pv_profile=hours["pv"].to_numpy())
# 3. a 2 MW / 4 MWh battery on the first feeder's node 5
battery = xr.Dataset(
    {"storage_node": ("storage", ["cigre0-n5"]), "storage_p_max": ("storage", [2.0]),
     "storage_e_max": ("storage", [4.0]), "storage_eta_c": ("storage", [0.95]),
     "storage_eta_d": ("storage", [0.95]), "storage_soc_min": ("storage", [0.1]),
     "storage_soc_max": ("storage", [0.9]), "storage_soc_init": ("storage", [0.5]),
     "storage_cyclic": ("storage", [True])},
    coords={"storage": ["BESS1"]})
system = flexnet.System.compose(ts, feeders, at=["3", "7"], assets=battery, name="case39+cigre")
print(system)
r = flexnet.solve(system, "centralized")
print(r.summary().to_string())
soc = r["storage_soc"].sel(storage="BESS1")
print(f"battery: {float(soc.min()):.2f}–{float(soc.max()):.2f} MWh over the day; "
      f"lowest feeder voltage {float(r['node_v'].min()):.4f} p.u.")
assert r.dataset.attrs["status"] == "optimal"
assert np.isfinite(r.dataset.attrs["total_cost"])
