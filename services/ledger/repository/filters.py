"""WHERE clauses made of the filters a list request gave, and only those.

A filter written `($n::text IS NULL OR col = $n)` keeps one statement text for every
request, but once PostgreSQL caches a generic plan for it (after five runs) the plan cannot
use the condition as an index bound: a deep page (`starting_after`) then walks the index
from the newest row down to the cursor. With only the conditions present, each shape of
request is its own statement and every plan starts at the cursor.
"""

from __future__ import annotations


class Where:
    """`add("t.id < {}", cursor)` appends a condition with its value as the next `$n`."""

    def __init__(self, *values: object) -> None:
        self.values: list[object] = list(values)
        self._conditions: list[str] = []

    def add(self, condition: str, value: object) -> None:
        self.values.append(value)
        self._conditions.append(condition.format(f"${len(self.values)}"))

    def add_if(self, condition: str, value: object) -> None:
        """Only when a value was given (None: no condition)."""
        if value is not None:
            self.add(condition, value)

    def param(self, value: object) -> str:
        """A value used elsewhere in the statement (LIMIT): its `$n`."""
        self.values.append(value)
        return f"${len(self.values)}"

    def sql(self, *fixed: str) -> str:
        return " AND ".join([*fixed, *self._conditions])
