"""flexnet: TSO–DSO coordination on linopy/xarray — blocks, schemes, uncertainty, VPPs."""

from __future__ import annotations

from flexnet._version import __version__
from flexnet.api import compare, solve
from flexnet.errors import DataError, FlexnetError, InfeasibleError, SolverError, UnboundedError
from flexnet.grid import DEFAULT_CASE, System, list_cases, load_case, read_system, synthetic_system
from flexnet.options import OptionError
from flexnet.quality import SheddingError, SuboptimalError
from flexnet.results import Result, read_result


def _document_options() -> None:
    """List every scheme's options in ``help(flexnet.solve)`` (from their signatures)."""
    from flexnet.api import _signature_of
    from flexnet.coordination import SCHEMES
    from flexnet.options import options_doc

    solve.__doc__ = (solve.__doc__ or "") + options_doc(
        {name: _signature_of(name) for name in SCHEMES})


_document_options()

__all__ = [
    "DEFAULT_CASE",
    "DataError",
    "FlexnetError",
    "InfeasibleError",
    "OptionError",
    "Result",
    "SheddingError",
    "SolverError",
    "SuboptimalError",
    "System",
    "UnboundedError",
    "__version__",
    "compare",
    "list_cases",
    "load_case",
    "read_result",
    "read_system",
    "solve",
    "synthetic_system",
]
