"""Typed, checked options for :func:`flexnet.solve`.

Every scheme takes the :class:`SolverOptions` fields plus its own keyword options (read
from the scheme function's signature, so the two never drift apart). Unknown keys raise
:class:`OptionError` with a "did you mean", wrong types and out-of-range values raise
naming the option. Raw HiGHS options travel in ``solver_options`` and are checked by HiGHS
itself when the first solver instance is made (:func:`flexnet.solver.apply_options`).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from flexnet.errors import FlexnetError

__all__ = ["OptionError", "SolverOptions", "check_options", "options_doc"]


class OptionError(FlexnetError, ValueError):
    """An option is unknown, of the wrong type or out of range; the message names it."""


@dataclass(frozen=True)
class SolverOptions:
    """Options every scheme passes to HiGHS.

    Attributes
    ----------
    time_limit : float, optional
        Seconds per HiGHS solve (> 0).
    mip_gap : float, optional
        Relative MIP gap for the MILP schemes, in [0, 1).
    threads : int, optional
        HiGHS threads (>= 1; default :data:`flexnet.solver.DEFAULT_THREADS`).
    presolve : {"on", "off", "choose"}, optional
    solver : {"simplex", "ipm", "pdlp", "choose"}, optional
    log_file : str or Path, optional
        Write HiGHS's log to this file.
    verbose : bool
        Print HiGHS's log.
    solver_options : mapping, optional
        Raw HiGHS options by HiGHS's own names (checked by HiGHS).
    """

    time_limit: float | None = None
    mip_gap: float | None = None
    threads: int | None = None
    presolve: str | None = None
    solver: str | None = None
    log_file: str | Path | None = None
    verbose: bool = False
    solver_options: Mapping[str, Any] = field(default_factory=dict)


_SOLVER_CHECKS: dict[str, tuple[tuple[type, ...], Callable[[Any], bool], str]] = {
    "time_limit": ((int, float), lambda v: v > 0, "a number of seconds > 0"),
    "mip_gap": ((int, float), lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "threads": ((int,), lambda v: v >= 1, "an integer >= 1"),
    "presolve": ((str,), lambda v: v in ("on", "off", "choose"), "'on', 'off' or 'choose'"),
    "solver": ((str,), lambda v: v in ("simplex", "ipm", "pdlp", "choose"),
               "'simplex', 'ipm', 'pdlp' or 'choose'"),
    "log_file": ((str, Path), lambda v: True, "a path"),
    "verbose": ((bool,), lambda v: True, "True or False"),
    "solver_options": ((Mapping,), lambda v: all(isinstance(k, str) for k in v),
                       "a mapping of HiGHS option names to values"),
}
#: options :func:`flexnet.solve` itself takes (see flexnet.quality), and ``formulation``,
#: which every scheme accepts (nested ignores it: its lower level is always PTDF)
_SOLVE_OPTIONS = {"allow_suboptimal": False, "shedding": "warn", "formulation": "auto"}
#: choices of scheme options whose default is a string
_CHOICES = {"formulation": ("auto", "angle", "ptdf", "lazy"), "method": ("auto", "blocks", "milp"),
            "shedding": ("warn", "error", "ignore")}
#: scheme options that only the library's own recipes pass (not a user's business, but
#: accepted: the interval and DRCC algorithms call the schemes through solve)
_INTERNAL = {"hook"}


def _scheme_params(fn: Callable) -> dict[str, inspect.Parameter]:
    return {n: p for n, p in inspect.signature(fn).parameters.items()
            if p.kind == p.KEYWORD_ONLY}


_TYPES = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,),
          "None": (type(None),), "pd.DataFrame": (pd.DataFrame,)}


def _type_ok_annotated(value: Any, annotation: str) -> bool | None:
    """A value fits an annotation like ``"bool | str"`` (None: the annotation names a type
    this check does not know, e.g. a DataFrame or a callable, so anything goes)."""
    names = [n.strip() for n in str(annotation).split("|")]
    if not all(n in _TYPES for n in names):
        return None
    if isinstance(value, bool):
        return "bool" in names
    return any(isinstance(value, _TYPES[n]) for n in names)


def _type_ok(value: Any, default: Any) -> bool:
    """A value fits an option whose default is ``default`` (None: anything)."""
    if default is None or default is inspect.Parameter.empty:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str) or not isinstance(value, int | float | bool)
    return True


def check_options(scheme: str, fn: Callable, options: Mapping[str, Any]) -> None:
    """Check ``options`` for ``scheme`` (implemented by ``fn``); raise :class:`OptionError`."""
    params = _scheme_params(fn)
    known = set(params) | set(_SOLVER_CHECKS) | set(_SOLVE_OPTIONS)
    for key, value in options.items():
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise OptionError(f"{scheme}: unknown option {key!r}{hint} (options: "
                              f"{', '.join(sorted(known - _INTERNAL))}; raw HiGHS options go "
                              "in solver_options={...})")
        if value is None:  # the CLI passes unset options as None
            continue
        if key in _SOLVER_CHECKS:
            types, ok, what = _SOLVER_CHECKS[key]
            if isinstance(value, bool) and bool not in types:
                raise OptionError(f"{scheme}: option {key!r} must be {what} (got {value!r})")
            if not isinstance(value, types) or not ok(value):
                raise OptionError(f"{scheme}: option {key!r} must be {what} (got {value!r})")
            continue
        default = params[key].default if key in params else _SOLVE_OPTIONS[key]
        annotated = key in params and params[key].annotation is not inspect.Parameter.empty
        by_annotation = _type_ok_annotated(value, params[key].annotation) if annotated \
            else None
        # an annotation naming a type this check does not know (a DataFrame) admits anything
        if by_annotation is False or (by_annotation is None and not annotated
                                      and not _type_ok(value, default)):
            what = params[key].annotation if key in params else type(default).__name__
            raise OptionError(f"{scheme}: option {key!r} must be of type {what} "
                              f"(got {value!r})")
        if key in _CHOICES and isinstance(value, str) and value not in _CHOICES[key]:
            raise OptionError(f"{scheme}: option {key!r} must be one of "
                              f"{', '.join(map(repr, _CHOICES[key]))} (got {value!r})")
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise OptionError(f"{scheme}: option {key!r} must be >= 0 (got {value!r})")


def options_doc(schemes: Mapping[str, Callable]) -> str:
    """The options of every scheme with their defaults (appended to ``solve``'s docstring)."""
    lines = ["", "    Scheme options (besides the solver options "
             + ", ".join(f.name for f in dataclasses.fields(SolverOptions))
             + ", and allow_suboptimal, shedding, formulation):", ""]
    for name, fn in schemes.items():
        opts = ", ".join(f"{n}={p.default!r}" for n, p in _scheme_params(fn).items()
                         if n not in _INTERNAL)
        lines.append(f"    - ``{name}``: {opts or '(none)'}")
    return "\n".join(lines) + "\n"
