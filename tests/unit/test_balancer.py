"""shared/balancer.py: the order replicas are tried in, down marks and their expiry (a clock
the test moves, never a sleep), and the settings' comma-separated lists."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cli.apps import settings_class
from shared.balancer import Replicas, parse_urls, replay_safe
from shared.secrets import explain
from tests.support.secrets import TEST_SECRET_FIELDS

A, B, C = "http://10.0.0.1:8002", "http://10.0.0.2:8002", "http://10.0.0.3:8002"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def three(clock: Clock, down_seconds: float = 2.0) -> Replicas:
    return Replicas.parse("payments", f"{A},{B},{C}", down_seconds=down_seconds, clock=clock)


class TestOrder:
    def test_each_request_starts_one_replica_further_on(self, clock: Clock) -> None:
        replicas = three(clock)
        orders = [replicas.order() for _ in range(4)]
        assert orders == [[A, B, C], [B, C, A], [C, A, B], [A, B, C]]

    def test_requests_spread_evenly(self, clock: Clock) -> None:
        replicas = three(clock)
        firsts = [replicas.order()[0] for _ in range(300)]
        assert {url: firsts.count(url) for url in (A, B, C)} == {A: 100, B: 100, C: 100}

    def test_one_replica_is_always_the_whole_order(self, clock: Clock) -> None:
        replicas = Replicas.parse("ledger", A, clock=clock)
        replicas.failed(A)
        assert [replicas.order() for _ in range(3)] == [[A], [A], [A]]


class TestDown:
    def test_a_failed_replica_is_tried_last(self, clock: Clock) -> None:
        replicas = three(clock)
        replicas.failed(A)
        orders = [replicas.order() for _ in range(3)]
        assert orders == [[B, C, A], [B, C, A], [C, B, A]]

    def test_it_takes_its_turn_again_after_down_seconds(self, clock: Clock) -> None:
        replicas = three(clock, down_seconds=2.0)
        replicas.failed(A)
        clock.now += 1.99
        assert replicas.order()[-1] == A
        clock.now += 0.01
        # Back in the rotation where the round-robin would have it.
        assert [replicas.order() for _ in range(2)] == [[B, C, A], [C, A, B]]

    def test_a_success_clears_the_mark_at_once(self, clock: Clock) -> None:
        replicas = three(clock)
        replicas.failed(A)
        replicas.succeeded(A)
        assert replicas.order() == [A, B, C]

    def test_failing_again_while_down_extends_it(self, clock: Clock) -> None:
        replicas = three(clock, down_seconds=2.0)
        replicas.failed(A)
        clock.now += 1.5
        replicas.failed(A)
        clock.now += 1.5
        assert replicas.order() == [B, C, A]

    def test_all_down_still_returns_all_the_least_recently_failed_first(self, clock: Clock) -> None:
        replicas = three(clock)
        replicas.failed(B)
        clock.now += 0.1
        replicas.failed(C)
        clock.now += 0.1
        replicas.failed(A)
        assert replicas.order() == [B, C, A]
        assert replicas.order() == [B, C, A]

    def test_marks_are_per_replica(self, clock: Clock) -> None:
        replicas = three(clock)
        replicas.failed(A)
        replicas.failed(C)
        assert replicas.order() == [B, A, C]


class TestParse:
    def test_whitespace_around_commas_and_trailing_slashes_are_ignored(self) -> None:
        replicas = Replicas.parse("wallet", f" {A}/ ,\t{B} ")
        assert replicas.urls == (A, B)
        assert replicas.name == "wallet"

    def test_a_base_url_may_have_a_path(self) -> None:
        assert parse_urls("https://ledger.internal/v2/") == ("https://ledger.internal/v2",)

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("", "item 1 of '' is empty"),
            (f"{A},", rf"item 2 of '{A},' is empty"),
            (f"{A},,{B}", "item 2 .* is empty"),
            (f"{A}, ,{B}", "item 2 .* is empty"),
            ("10.0.0.1:8002", "'10.0.0.1:8002' is not an http:// or https:// base URL"),
            ("ftp://10.0.0.1", "is not an http:// or https:// base URL"),
            (f"{A},redis://cache:6379", "'redis://cache:6379' is not an http"),
            ("http://", "is not an http:// or https:// base URL"),
            (f"{A}/?x=1", "a query cannot be"),
            (f"{A},{A}/", "listed twice"),
            (f"{A} {B}", "has a space in it: separate base URLs with commas"),
            ("http://ledger:80o3", "'http://ledger:80o3' has an unusable port"),
        ],
    )
    def test_an_unusable_list_says_which_item(self, value: str, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            Replicas.parse("payments", value)

    def test_the_error_names_the_upstream(self) -> None:
        with pytest.raises(ValueError, match=r"^ledger: item 2"):
            Replicas.parse("ledger", f"{A},")


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])
def test_idempotent_methods_are_safe_to_replay(method: str) -> None:
    assert replay_safe(method, idempotency_key=False)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_other_methods_only_with_an_idempotency_key(method: str) -> None:
    assert not replay_safe(method, idempotency_key=False)
    assert replay_safe(method, idempotency_key=True)


# Every setting naming another service, by app.
UPSTREAM_SETTINGS = [
    *[("gateway", f"{name}_url") for name in ("auth", "payments", "ledger", "wallet", "events")],
    ("payments", "ledger_url"),
    ("wallet", "ledger_url"),
    ("wallet", "payments_url"),
]


@pytest.mark.parametrize(("app", "name"), UPSTREAM_SETTINGS)
class TestSettings:
    def test_a_list_is_taken_and_one_url_still_is(self, app: str, name: str) -> None:
        kind = settings_class(app)
        listed = kind.model_validate({**TEST_SECRET_FIELDS, name: f"{A}, {B}"})
        assert getattr(listed, name) == f"{A}, {B}"
        assert getattr(kind.model_validate({**TEST_SECRET_FIELDS, name: A}), name) == A

    @pytest.mark.parametrize("value", [f"{A},", f"{A},,{B}", "ledger:8003", f"{A},{B} extra"])
    def test_an_unusable_list_is_refused_naming_the_setting(
        self, app: str, name: str, value: str
    ) -> None:
        with pytest.raises(ValidationError) as caught:
            settings_class(app).model_validate({**TEST_SECRET_FIELDS, name: value})
        line = explain(caught.value)
        assert line.startswith(f"{name}: "), line
        assert "\n" not in line
