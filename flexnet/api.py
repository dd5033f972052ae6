"""Top-level entry points: :func:`solve` and :func:`compare`."""

from __future__ import annotations

import difflib
import logging
import time
from typing import TYPE_CHECKING, Any

import pandas as pd

from flexnet.errors import DataError
from flexnet.options import check_options
from flexnet.quality import assess
from flexnet.solver import new_highs

if TYPE_CHECKING:
    from flexnet.grid.system import System
    from flexnet.results import Result

__all__ = ["compare", "solve"]

log = logging.getLogger("flexnet")


def _schemes() -> dict:
    from flexnet.coordination import SCHEMES

    return SCHEMES


def solve(system: System | str, scheme: str = "centralized", *, allow_suboptimal: bool = False,
          shedding: str = "warn", **options: Any) -> Result:
    """Solve a system under a coordination scheme.

    Parameters
    ----------
    system : System or str
        A system, or the name of a shipped case.
    scheme : str
        One of ``flexnet.coordination.SCHEMES`` (``centralized``, ``sequential``, ...).
    allow_suboptimal : bool, default False
        Accept a plan that is not proven optimal (time limit, ADMM not converged, nested
        short of its gap): it is returned with its status and gap in the summary, the attrs
        and a warning, instead of raising :class:`~flexnet.quality.SuboptimalError`.
    shedding : {"warn", "error", "ignore"}
        Shedding at VOLL is logged as a warning naming elements, hours and MWh (default),
        raises :class:`~flexnet.quality.SheddingError`, or is only in the summary.
    **options
        The scheme's options and the solver options (listed below); unknown keys, wrong
        types and out-of-range values raise :class:`~flexnet.options.OptionError`. Raw
        HiGHS options go in ``solver_options={...}``.

    Returns
    -------
    Result
        Its attrs carry ``status``, ``gap`` and ``status_ok``.

    Raises
    ------
    DataError
        Unknown case or scheme.
    OptionError
        An unknown, mistyped or out-of-range option (before any solve).
    InfeasibleError, UnboundedError, SolverError
        With the scheme, the solver status and a hint.
    SuboptimalError, SheddingError
        See ``allow_suboptimal`` and ``shedding``; the result is in ``.result``.

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
        close = difflib.get_close_matches(scheme, list(schemes), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DataError(f"unknown scheme {scheme!r}{hint} (available: {', '.join(schemes)})")
    check_options(scheme, _signature_of(scheme), {**options, "allow_suboptimal": allow_suboptimal,
                                                  "shedding": shedding})
    if options.get("solver_options"):  # HiGHS checks its own options, before any build
        new_highs(dict(options["solver_options"]), scheme)
    t0 = time.perf_counter()
    res = schemes[scheme](system, **options)
    res.dataset.attrs["wall_time_s"] = time.perf_counter() - t0
    log.info("%s on %s: %.2f s", scheme, system.name, res.dataset.attrs["wall_time_s"])
    return assess(res, allow_suboptimal=allow_suboptimal, shedding=shedding)


def _signature_of(scheme: str):
    """The function whose keyword options ``scheme`` takes."""
    from flexnet.coordination import solve_hierarchical

    return solve_hierarchical if scheme == "hierarchical-vpp" else _schemes()[scheme]


def compare(system: System | str, schemes: list[str] | None = None, **options: Any) -> pd.DataFrame:
    """Solve several schemes on the same system; return their summaries side by side.

    ``options`` go to every :func:`solve` (``allow_suboptimal`` included).
    """
    schemes = schemes or ["sequential", "centralized"]
    cols = [solve(system, s, **options).summary() for s in schemes]
    return pd.concat(cols, axis=1)
