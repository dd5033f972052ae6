"""Exceptions raised by flexnet."""

from __future__ import annotations

__all__ = ["DataError", "FlexnetError", "InfeasibleError", "SolverError", "UnboundedError"]


class FlexnetError(Exception):
    """Base class of every error flexnet raises on purpose."""


class DataError(FlexnetError, ValueError):
    """Input data is invalid; the message names the element, the id and the field."""


class SolverError(FlexnetError, RuntimeError):
    """The solver stopped without a usable solution (time limit, numerical trouble, ...)."""

    def __init__(self, message: str, *, scheme: str = "", status: str = "", hint: str = ""):
        self.scheme, self.status, self.hint = scheme, status, hint
        text = message
        if scheme or status:
            text += f" [scheme={scheme or '?'}, solver status={status or '?'}]"
        if hint:
            text += f"\nHint: {hint}"
        super().__init__(text)


class InfeasibleError(SolverError):
    """The model has no feasible point."""


class UnboundedError(SolverError):
    """The model's objective is unbounded."""
