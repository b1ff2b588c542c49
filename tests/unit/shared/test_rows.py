"""shared/rows.py: a record becomes its table's typed row, nothing else."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shared.rows import row, row_or_none, rows


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    balance: int


def test_a_record_becomes_the_row_and_ignores_columns_it_does_not_name() -> None:
    assert row(Account, {"id": "acc_1", "balance": 5, "added_later": True}) == Account("acc_1", 5)


def test_a_missing_column_is_an_error_not_a_none() -> None:
    with pytest.raises(KeyError, match="balance"):
        row(Account, {"id": "acc_1"})


def test_none_stays_none_and_many_keep_their_order() -> None:
    assert row_or_none(Account, None) is None
    assert rows(Account, [{"id": "b", "balance": 2}, {"id": "a", "balance": 1}]) == [
        Account("b", 2),
        Account("a", 1),
    ]


def test_only_dataclasses_are_rows() -> None:
    class NotARow:
        pass

    with pytest.raises(TypeError, match="NotARow is not a dataclass"):
        row(NotARow, {})
