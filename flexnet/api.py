"""Top-level entry points: :func:`solve` and :func:`compare`."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import pandas as pd

from flexnet.errors import DataError

if TYPE_CHECKING:
    from flexnet.grid.system import System
    from flexnet.results import Result

__all__ = ["compare", "solve"]

log = logging.getLogger("flexnet")


def _schemes() -> dict:
    from flexnet.coordination import SCHEMES

    return SCHEMES


def solve(system: System | str, scheme: str = "centralized", **options: Any) -> Result:
    """Solve a system under a coordination scheme.

    Parameters
    ----------
    system : System or str
        A system, or the name of a shipped case.
    scheme : str
        One of ``flexnet.coordination.SCHEMES`` (``centralized``, ``sequential``, ...).
    **options
        ``formulation`` ("angle" or "ptdf") and solver options (``time_limit``,
        ``mip_gap``, ``threads``, ``verbose``, ``log_file``, ...).

    Returns
    -------
    Result

    Raises
    ------
    DataError
        Unknown case or scheme.
    InfeasibleError, UnboundedError, SolverError
        With the scheme, the solver status and a hint.

    Examples
    --------
    >>> import flexnet
    >>> r = flexnet.solve("rts24", "centralized")
    >>> r.dataset.attrs["status"]
    'optimal'
    """
    from flexnet.grid.cases import load_case

    if isinstance(system, str):
        system = load_case(system)
    schemes = _schemes()
    if scheme not in schemes:
        raise DataError(f"unknown scheme {scheme!r}; available: {', '.join(schemes)}")
    t0 = time.perf_counter()
    res = schemes[scheme](system, **options)
    res.dataset.attrs["wall_time_s"] = time.perf_counter() - t0
    log.info("%s on %s: %.2f s", scheme, system.name, res.dataset.attrs["wall_time_s"])
    return res


def compare(system: System | str, schemes: list[str] | None = None, **options: Any) -> pd.DataFrame:
    """Solve several schemes on the same system; return their summaries side by side."""
    schemes = schemes or ["sequential", "centralized"]
    cols = [solve(system, s, **options).summary() for s in schemes]
    return pd.concat(cols, axis=1)
