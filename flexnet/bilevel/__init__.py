"""Generic bilevel engine: KKT + Big-M + strong duality for linopy LP lower levels."""

from __future__ import annotations

from flexnet.bilevel.engine import (
    LowerLevel,
    add_kkt,
    bilinear_value,
    binding_bigms,
    declare_lower_level,
    directional_range,
    lower_level_lp,
    marginal_values,
    verify,
)

__all__ = ["LowerLevel", "add_kkt", "bilinear_value", "binding_bigms", "declare_lower_level",
           "directional_range", "lower_level_lp", "marginal_values", "verify"]
