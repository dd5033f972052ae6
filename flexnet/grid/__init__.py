"""Grid data model: schema, validation, shipped cases, importers, synthetic systems."""

from __future__ import annotations

from flexnet.grid.cases import DEFAULT_CASE, list_cases, load_case
from flexnet.grid.schema import FIELDS, schema_markdown
from flexnet.grid.synthetic import synthetic_system
from flexnet.grid.system import System, read_system

__all__ = ["DEFAULT_CASE", "FIELDS", "System", "list_cases", "load_case", "read_system",
           "schema_markdown", "synthetic_system"]
