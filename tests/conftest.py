"""Shared fixtures: shipped cases and solved results, cached per test session."""

from __future__ import annotations

import functools

import pytest

import flexnet


@functools.cache
def case(name: str) -> flexnet.System:
    return flexnet.load_case(name)


@functools.cache
def solved(name: str, scheme: str, formulation: str = "angle") -> flexnet.Result:
    return flexnet.solve(case(name), scheme, formulation=formulation)


@pytest.fixture
def default_case() -> flexnet.System:
    return case(flexnet.DEFAULT_CASE)


@pytest.fixture
def default_centralized() -> flexnet.Result:
    return solved(flexnet.DEFAULT_CASE, "centralized")


@pytest.fixture
def default_sequential() -> flexnet.Result:
    return solved(flexnet.DEFAULT_CASE, "sequential")


from flexnet.grid.assets import DATASETS  # noqa: E402

CASE_DIR = DATASETS / "matpower"


@functools.cache
def subcase(dsos: tuple[str, ...] = ("DSO1",), hours: int = 6) -> flexnet.System:
    """The default case cut down to some DSOs and the first hours (for MILP-heavy tests)."""
    return case(flexnet.DEFAULT_CASE).select(list(dsos), hours,
                                             name=f"default-{'-'.join(dsos)}-{hours}h")
