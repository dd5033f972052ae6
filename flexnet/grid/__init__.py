"""Grid data model: schema, validation, shipped cases, importers, synthetic systems."""

from __future__ import annotations

from .cases import DEFAULT_CASE, list_cases, load_case
from .schema import FIELDS, schema_markdown
from .synthetic import synthetic_system
from .system import System, read_system

__all__ = ["DEFAULT_CASE", "FIELDS", "System", "list_cases", "load_case", "read_system",
           "schema_markdown", "synthetic_system"]
