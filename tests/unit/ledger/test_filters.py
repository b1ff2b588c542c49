"""The list queries' WHERE clauses: only the filters given, each its own `$n`
(services/ledger/repository/filters.py; no database)."""

from __future__ import annotations

from services.ledger.repository.filters import Where


def test_fixed_conditions_come_first_and_absent_filters_add_nothing() -> None:
    where = Where("ten_1", False)
    where.add_if("t.id < {}", None)
    where.add_if("t.reference_id = {}", None)
    fixed = ("t.tenant_id = $1", "t.livemode = $2")
    assert where.sql(*fixed) == "t.tenant_id = $1 AND t.livemode = $2"
    assert where.values == ["ten_1", False]


def test_each_given_filter_takes_the_next_parameter() -> None:
    where = Where("ten_1", False)
    where.add_if("t.id < {}", "txn_9")
    where.add_if("t.reference_id = {}", None)
    where.add_if("t.created_at >= {}", 1700000000)
    limit = where.param(11)
    assert where.sql("t.tenant_id = $1") == "t.tenant_id = $1 AND t.id < $3 AND t.created_at >= $4"
    assert limit == "$5"
    assert where.values == ["ten_1", False, "txn_9", 1700000000, 11]


def test_a_value_used_twice_in_one_condition_is_passed_once() -> None:
    where = Where("ten_1")
    where.add("(a.id = {0} OR a.code = {0})", "cash")
    assert where.sql() == "(a.id = $2 OR a.code = $2)"
    assert where.values == ["ten_1", "cash"]


def test_a_false_value_is_a_filter_not_an_absent_one() -> None:
    where = Where()
    where.add_if("h.pending = {}", False)
    assert where.sql() == "h.pending = $1"
