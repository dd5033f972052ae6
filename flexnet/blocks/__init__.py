"""Model blocks: each ``add_<block>(m, system, ...)`` adds labeled variables/constraints.

Blocks return their contribution to the objective (a linopy expression or 0).
"""

from __future__ import annotations

from flexnet.blocks.buildings import add_buildings
from flexnet.blocks.der import add_der
from flexnet.blocks.distribution import add_distribution
from flexnet.blocks.drp import drp_reward
from flexnet.blocks.fleets import add_fleets
from flexnet.blocks.flexibility import (
    add_flexibility_requirement,
    add_pcc_flexibility,
    add_transformer_headroom,
)
from flexnet.blocks.generators import add_generators
from flexnet.blocks.network_ts import add_ts_network
from flexnet.blocks.shedding import add_ds_shedding, add_ds_spill, add_ts_shedding, add_ts_spill
from flexnet.blocks.storage import add_storage
from flexnet.blocks.wind import add_wind

__all__ = [
    "add_buildings",
    "add_der",
    "add_distribution",
    "add_flexibility_requirement",
    "add_fleets",
    "add_generators",
    "add_pcc_flexibility",
    "add_transformer_headroom",
    "add_storage",
    "add_ts_network",
    "add_ts_shedding",
    "add_ds_shedding",
    "add_ts_spill",
    "add_ds_spill",
    "add_wind",
    "drp_reward",
]
