"""Identifiers: prefixed, unique, time-sortable, and recognised by their shape."""

from __future__ import annotations

import pytest

from shared.ids import id_timestamp_ms, is_id, new_id


def test_ids_are_prefixed_unique_and_time_sortable() -> None:
    earlier = [new_id("pi", at_ms=1_700_000_000_000 + n) for n in range(200)]
    assert all(is_id(i, "pi") for i in earlier)
    assert sorted(earlier) == earlier
    assert len({new_id("pi") for _ in range(10_000)}) == 10_000
    assert id_timestamp_ms(new_id("evt", at_ms=1_712_345_678_901)) == 1_712_345_678_901


def test_ids_sort_the_same_under_any_collation() -> None:
    # Lowercase letters and digits only: "C" and natural-language collations agree.
    value = new_id("acc")
    assert value == value.lower()


@pytest.mark.parametrize("bad", ["pi_", "pi_xyz", "acc_" + "0" * 26, "pi_" + "U" * 26, 42, None])
def test_is_id_rejects_foreign_or_malformed(bad: object) -> None:
    assert not is_id(bad, "pi")


def test_bad_prefix_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="prefix"):
        new_id("Bad-Prefix")


def test_an_id_is_its_prefix_and_26_characters() -> None:
    value = new_id("pi")
    prefix, body = value.split("_")
    assert prefix == "pi"
    assert len(body) == 26
    assert set(body) <= set("0123456789abcdefghjkmnpqrstvwxyz")


def test_ids_made_in_the_same_millisecond_differ() -> None:
    same = {new_id("tx", at_ms=1_700_000_000_000) for _ in range(1_000)}
    assert len(same) == 1_000
    assert {id_timestamp_ms(value) for value in same} == {1_700_000_000_000}


@pytest.mark.parametrize("prefix", ["a", "pi", "whsec", "a" * 16, "x1"])
def test_good_prefixes(prefix: str) -> None:
    assert is_id(new_id(prefix), prefix)


@pytest.mark.parametrize("prefix", ["", "1pi", "PI", "p-i", "a" * 17, "pi_"])
def test_bad_prefixes(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        new_id(prefix)


def test_is_id_wants_the_exact_prefix() -> None:
    value = new_id("pi")
    assert not is_id(value, "p")
    assert not is_id(value, "pix")
    assert not is_id(value + "0", "pi")
