"""How good a result is: status, gap and shedding, and the rule that a plan which is not
what the caller asked for is never handed over as if it were.

:func:`flexnet.solve` calls :func:`assess` on every result. A status other than
``optimal`` raises :class:`SuboptimalError` (carrying the result) unless the caller passed
``allow_suboptimal=True``; then the status and the gap are in the summary's first rows,
in the file's attrs and in a warning. Shedding is always reported (a log warning naming
the elements, hours and MWh, and the ``shed_energy_mwh`` summary row); with
``shedding="error"`` any shedding raises :class:`SheddingError`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from flexnet.errors import FlexnetError, SolverError

if TYPE_CHECKING:
    import xarray as xr

    from flexnet.results import Result

__all__ = ["STATUSES", "SheddingError", "SuboptimalError", "assess", "shedding_table"]

log = logging.getLogger("flexnet")

#: every status a result can carry, and what it means for the plan
STATUSES: dict[str, str] = {
    "optimal": "proven optimal: an LP at its optimum, a MILP within the requested gap, "
               "ADMM converged within its tolerances",
    "time_limit": "the time limit was reached: the best plan found, not proven optimal (an LP "
                  "stopped early is not even proven feasible)",
    "suboptimal": "the nested decomposition stopped short of the requested gap (no better "
                  "plan found, or the round limit)",
    "max_iterations": "ADMM did not converge: the TSO's and DSOs' exchange copies still "
                      "disagree, so the plan is not the joint optimum",
}

#: MWh of shedding below which a plan counts as shedding-free (solver tolerance)
SHED_TOL_MWH = 1e-6


class SuboptimalError(SolverError):
    """The plan is not proven optimal within the requested tolerance.

    ``result`` holds it all the same, for inspection.
    """

    def __init__(self, message: str, *, result: Result, **kw: str) -> None:
        super().__init__(message, **kw)
        self.result = result


class SheddingError(FlexnetError):
    """The plan sheds load and the caller asked for none (``shedding="error"``)."""

    def __init__(self, message: str, *, result: Result) -> None:
        super().__init__(message)
        self.result = result


def _gap(attrs: dict) -> float:
    """The relative optimality gap where the scheme knows one (NaN where it does not)."""
    if attrs.get("status") == "optimal" and "mip_gap" not in attrs:
        return 0.0
    return float(attrs.get("mip_gap", np.nan))


def shedding_table(ds: xr.Dataset) -> list[tuple[str, str, float, list[str]]]:
    """(kind, element id, MWh, snapshots) for every load or node that sheds, largest first."""
    rows = []
    for var, dim, kind in (("load_shed", "load", "TS load"), ("node_shed", "node", "DS node")):
        if var not in ds or ds[var].size == 0:
            continue
        shed = ds[var].transpose("snapshot", dim).values  # MW over 1-hour snapshots = MWh
        total = shed.sum(0)
        for j in np.flatnonzero(total > SHED_TOL_MWH):  # loop over the shedding elements only
            hours = ds.snapshot.values[shed[:, j] > SHED_TOL_MWH]
            rows.append((kind, str(ds[dim].values[j]), float(total[j]), [str(h) for h in hours]))
    return sorted(rows, key=lambda r: -r[2])


def _shedding_text(rows: list, top: int = 5) -> str:
    parts = [f"{kind} {eid!r} {mwh:,.1f} MWh in {len(h)} h ({h[0]}…{h[-1]})"
             for kind, eid, mwh, h in rows[:top]]
    more = f"; and {len(rows) - top} more" if len(rows) > top else ""
    return "; ".join(parts) + more


def assess(res: Result, *, allow_suboptimal: bool = False, shedding: str = "warn") -> Result:
    """Attach the status, gap and shedding report to ``res`` and enforce the caller's terms.

    Parameters
    ----------
    res : Result
        A scheme's result; its attrs gain ``gap``, ``status_ok`` (1/0) and
        ``shed_elements`` (how many loads and nodes shed).
    allow_suboptimal : bool, default False
        Accept a plan that is not proven optimal (status other than ``optimal``).
    shedding : {"warn", "error", "ignore"}
        What shedding does: a log warning naming the elements, hours and MWh (default),
        a :class:`SheddingError`, or nothing (the summary row stays).

    Raises
    ------
    SuboptimalError
        The status is not ``optimal`` and ``allow_suboptimal`` is False.
    SheddingError
        The plan sheds and ``shedding="error"``.
    """
    if shedding not in ("warn", "error", "ignore"):
        raise ValueError(f"shedding must be 'warn', 'error' or 'ignore', not {shedding!r}")
    ds = res.dataset
    status = str(ds.attrs.get("status", ""))
    gap = _gap(ds.attrs)
    ds.attrs.update(gap=gap, status_ok=int(status == "optimal"))
    rows = shedding_table(ds)
    ds.attrs["shed_elements"] = len(rows)
    if rows:
        total = sum(r[2] for r in rows)
        text = (f"{res.scheme}: the plan sheds {total:,.1f} MWh at VOLL "
                f"({len(rows)} elements): {_shedding_text(rows)}")
        if shedding == "error":
            raise SheddingError(text + " [shedding='error']", result=res)
        if shedding == "warn":
            log.warning("%s", text)
    if status != "optimal":
        gap_text = f"gap {gap:.3%}" if np.isfinite(gap) else "gap unknown"
        meaning = STATUSES.get(status, "the solver stopped without a proven optimum")
        text = f"{res.scheme}: the plan is not proven optimal: status {status!r}, {gap_text} — {meaning}"
        if not allow_suboptimal:
            raise SuboptimalError(text, result=res, scheme=res.scheme, status=status,
                                  hint="raise time_limit / max_iter / max_rounds, or pass "
                                       "allow_suboptimal=True (CLI: --allow-suboptimal) to "
                                       "accept it")
        log.warning("%s (accepted: allow_suboptimal)", text)
    return res
