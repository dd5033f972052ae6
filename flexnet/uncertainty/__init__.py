"""Uncertainty: the interval two-stage algorithm (DRCC follows in issue 5)."""

from __future__ import annotations

from flexnet.uncertainty.interval import scenario_profiles, solve_interval, stage2

__all__ = ["scenario_profiles", "solve_interval", "stage2"]
