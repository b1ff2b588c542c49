"""Typed rows: a record from asyncpg becomes a frozen dataclass, the one mapping of its table.

Repositories return these, so services read `intent.amount` (which mypy checks) and never
`record["amount"]`. A dataclass's fields name the columns it takes; a column the query returns
beyond them is ignored (a `SELECT *` after a migration adds one), a field the query does not
return is a KeyError at once (a query that lost a column is a bug, not a None).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields, is_dataclass
from typing import Any, Protocol, TypeVar

R = TypeVar("R")


class Record(Protocol):
    """What a row is read from: an asyncpg.Record (whose stubs are no Mapping) or a dict."""

    def __getitem__(self, key: str, /) -> Any: ...


_COLUMNS: dict[type[Any], tuple[str, ...]] = {}


def _columns(kind: type[Any]) -> tuple[str, ...]:
    names = _COLUMNS.get(kind)
    if names is None:
        if not is_dataclass(kind):
            raise TypeError(f"{kind.__name__} is not a dataclass")
        names = _COLUMNS[kind] = tuple(f.name for f in fields(kind) if f.init)
    return names


def row(kind: type[R], record: Record) -> R:
    """One record as `kind`."""
    return kind(**{name: record[name] for name in _columns(kind)})


def row_or_none(kind: type[R], record: Record | None) -> R | None:
    return None if record is None else row(kind, record)


def rows(kind: type[R], records: Iterable[Record]) -> list[R]:
    names = _columns(kind)
    return [kind(**{name: record[name] for name in names}) for record in records]
