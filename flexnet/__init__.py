"""flexnet: TSO–DSO coordination on linopy/xarray — blocks, schemes, uncertainty, VPPs."""

from __future__ import annotations

from .errors import DataError, FlexnetError, InfeasibleError, SolverError, UnboundedError
from .grid import DEFAULT_CASE, System, list_cases, load_case, read_system, synthetic_system

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_CASE",
    "DataError",
    "FlexnetError",
    "InfeasibleError",
    "SolverError",
    "System",
    "UnboundedError",
    "__version__",
    "list_cases",
    "load_case",
    "read_system",
    "synthetic_system",
]
