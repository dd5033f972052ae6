"""Uncertainty: the interval two-stage algorithm and DRCC margins with out-of-sample checks."""

from __future__ import annotations

from flexnet.uncertainty.drcc import margins, solve_drcc, validate_out_of_sample
from flexnet.uncertainty.interval import (
    scenario_profiles,
    solve_interval,
    stage2,
    stage2_batch,
    stage2_lp,
)

__all__ = ["margins", "scenario_profiles", "solve_drcc", "solve_interval", "stage2", "stage2_batch",
           "stage2_lp", "validate_out_of_sample"]
