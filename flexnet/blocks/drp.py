"""The demand-response program (DRP) reward tariff built from the TSO's flexibility need."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

if TYPE_CHECKING:
    from flexnet.grid.system import System

__all__ = ["drp_reward", "linear_map"]


def linear_map(fr: xr.DataArray, rho_min: float, rho_max: float) -> xr.DataArray:
    """ρ_t = ρ_min + (ρ_max − ρ_min) · FR_t / max_τ FR_τ (ρ_min everywhere if FR ≡ 0)."""
    peak = float(fr.max())
    share = fr / peak if peak > 0 else xr.zeros_like(fr)
    return rho_min + (rho_max - rho_min) * share


def drp_reward(
    system: System,
    fr: xr.DataArray | None = None,
    mapping: Callable[[xr.DataArray, float, float], xr.DataArray] = linear_map,
) -> xr.DataArray:
    """Time-varying DRP reward ρ_t ($/MWh of load reduction against the baseline).

    This is our reconstruction of the Mansouri et al. (2023) tariff "built on flexibility
    requirements": the reward rises monotonically with the TSO's hourly up-flexibility
    requirement FR↑_t, between the case's ``drp_reward_min`` and ``drp_reward_max``.

    Parameters
    ----------
    system : System
    fr : DataArray over snapshot, optional
        Flexibility requirement to build from; default ``system.ds.fr_up``.
    mapping : callable, default :func:`linear_map`
        ``mapping(fr, rho_min, rho_max) -> rho``; replace it for another monotone map.

    Examples
    --------
    >>> import flexnet
    >>> from flexnet.blocks.drp import drp_reward
    >>> rho = drp_reward(flexnet.load_case("rts24"))
    >>> float(rho.max()) == flexnet.load_case("rts24").ds.attrs["drp_reward_max"]
    True
    """
    ds = system.ds
    fr = ds.fr_up if fr is None else fr
    rho = mapping(fr, float(ds.attrs["drp_reward_min"]), float(ds.attrs["drp_reward_max"]))
    if not np.isfinite(rho).all():
        raise ValueError("DRP reward mapping produced non-finite values")
    return rho.rename("drp_reward").assign_attrs(units="$/MWh")
