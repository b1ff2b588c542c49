"""When a delivery is tried again (service/delivery.py over settings.RETRY_SCHEDULE)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.events.service.delivery import Outcome, next_attempt_at
from services.events.settings import RETRY_SCHEDULE

FINISHED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def outcome(status_code: int | None = None, error: str | None = None) -> Outcome:
    return Outcome(
        started_at=FINISHED - timedelta(seconds=1),
        finished_at=FINISHED,
        duration_ms=1000,
        status_code=status_code,
        error=error,
    )


def test_the_schedule() -> None:
    # At once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about a day.
    assert RETRY_SCHEDULE == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


@pytest.mark.parametrize("attempt", range(1, len(RETRY_SCHEDULE)))
def test_a_failure_is_tried_again_after_the_next_delay(attempt: int) -> None:
    retry_at = next_attempt_at(attempt, outcome(500), scale=1.0)
    assert retry_at == FINISHED + timedelta(seconds=RETRY_SCHEDULE[attempt])


def test_the_last_attempt_is_the_last() -> None:
    assert next_attempt_at(len(RETRY_SCHEDULE), outcome(500), scale=1.0) is None
    assert next_attempt_at(len(RETRY_SCHEDULE) + 1, outcome(500), scale=1.0) is None


def test_the_scale_multiplies_every_delay() -> None:
    assert next_attempt_at(2, outcome(500), scale=0.5) == FINISHED + timedelta(seconds=150)
    assert next_attempt_at(2, outcome(500), scale=0.0) == FINISHED


@pytest.mark.parametrize("status_code", [200, 201, 204, 299])
def test_a_2xx_is_delivered_and_never_retried(status_code: int) -> None:
    assert outcome(status_code).succeeded
    assert next_attempt_at(1, outcome(status_code), scale=1.0) is None


def test_410_gone_is_never_retried() -> None:
    gone = outcome(410, "HTTP 410: gone")
    assert gone.gone
    assert not gone.succeeded
    assert next_attempt_at(1, gone, scale=1.0) is None


@pytest.mark.parametrize(
    ("status_code", "error"),
    [
        (None, "timed out after 15 s"),
        (None, "refused: url host '127.0.0.1' is loopback"),
        (199, "HTTP 199"),
        (302, "HTTP 302: redirect to '/elsewhere' not followed"),
        (404, "HTTP 404: not here"),
        (429, "HTTP 429: slow down"),
        (503, "HTTP 503: down"),
    ],
)
def test_everything_else_is_a_failure_to_retry(status_code: int | None, error: str) -> None:
    failed = outcome(status_code, error)
    assert not failed.succeeded
    assert not failed.gone
    assert next_attempt_at(1, failed, scale=1.0) == FINISHED + timedelta(seconds=5)
