"""Coordination schemes: each a short recipe of block calls (see docs/schemes.md)."""

from __future__ import annotations

from flexnet.coordination.centralized import build_centralized, solve_centralized
from flexnet.coordination.hierarchical import solve_hierarchical, solve_hierarchical_vpp
from flexnet.coordination.nested import solve_nested
from flexnet.coordination.sequential import solve_sequential
from flexnet.coordination.vpp_market import solve_vpp_market

SCHEMES = {
    "centralized": solve_centralized,
    "sequential": solve_sequential,
    "nested": solve_nested,
    "hierarchical": solve_hierarchical,
    "hierarchical-vpp": solve_hierarchical_vpp,
    "vpp-market": solve_vpp_market,
}

__all__ = ["SCHEMES", "build_centralized", "solve_centralized", "solve_hierarchical", "solve_nested",
           "solve_sequential", "solve_vpp_market"]
