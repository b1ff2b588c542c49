"""Cursor pagination: the parameters, which way a cursor walks, and the page it gives."""

from __future__ import annotations

import pytest

from shared.errors import InvalidRequestError
from shared.pagination import ListParams, keyset, list_body, page


def params(**query: str) -> ListParams:
    from shared.body import validate

    return validate(ListParams, query)


def test_defaults_walk_older_from_the_newest() -> None:
    found = params()
    assert (found.limit, found.cursor, found.direction, found.fetch) == (10, None, "older", 11)
    assert keyset(found) == ("<", "DESC")


def test_starting_after_walks_older() -> None:
    found = params(starting_after="pi_b", limit="3")
    assert (found.cursor, found.direction, found.fetch) == ("pi_b", "older", 4)
    assert keyset(found) == ("<", "DESC")


def test_ending_before_walks_newer() -> None:
    found = params(ending_before="pi_b")
    assert (found.cursor, found.direction) == ("pi_b", "newer")
    assert keyset(found) == (">", "ASC")


def test_unknown_query_parameters_are_ignored() -> None:
    assert params(expand="x").limit == 10


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5"])
def test_limits_outside_1_to_100_are_refused(limit: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        params(limit=limit)
    assert caught.value.param == "limit"


@pytest.mark.parametrize("limit", ["1", "100"])
def test_limits_at_the_bounds_are_taken(limit: str) -> None:
    assert params(limit=limit).limit == int(limit)


def test_both_cursors_at_once_are_refused() -> None:
    with pytest.raises(InvalidRequestError, match="not both"):
        params(starting_after="pi_a", ending_before="pi_b")


@pytest.mark.parametrize(
    ("rows", "query", "shown", "has_more"),
    [
        # Older pages come id-descending, newest first already.
        (["e", "d", "c"], {"limit": "2"}, ["e", "d"], True),
        (["e", "d"], {"limit": "2"}, ["e", "d"], False),
        ([], {}, [], False),
        # Newer pages come id-ascending: shown newest first again.
        (["b", "c", "d"], {"limit": "2", "ending_before": "a"}, ["c", "b"], True),
        (["b"], {"limit": "2", "ending_before": "a"}, ["b"], False),
    ],
)
def test_page_trims_the_probe_row_and_orders_newest_first(
    rows: list[str], query: dict[str, str], shown: list[str], has_more: bool
) -> None:
    assert page(rows, params(**query)) == (shown, has_more)


def test_the_list_envelope() -> None:
    assert list_body([{"id": "x"}], has_more=True, url="/v1/things") == {
        "object": "list",
        "data": [{"id": "x"}],
        "has_more": True,
        "url": "/v1/things",
    }
