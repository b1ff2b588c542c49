"""What the log reads from an event and how it is routed and shown (service/events.py,
schemas.py, service/endpoints.py), without a server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from services.events.repository import deliveries as deliveries_repo
from services.events.repository import endpoints as endpoints_repo
from services.events.schemas import EventListParams, patterns_matching
from services.events.service.endpoints import webhook_endpoint
from services.events.service.events import delivery_attempt, parse_event
from shared import outbox

CREATED = 1_767_268_800  # 2026-01-01 12:00 UTC
AT = datetime.fromtimestamp(CREATED, UTC)


def emitted(**changes: Any) -> str:
    event = json.loads(
        outbox.encode_event(
            event_id="evt_01jd00000000000000000000aa",
            type="payment_intent.succeeded",
            tenant_id="ten_1",
            livemode=True,
            data={"id": "pi_1"},
            request_id="req_1",
            idempotency_key=None,
            created=CREATED,
        )
    )
    event.update(changes)
    return json.dumps(event)


class TestParseEvent:
    def test_the_indexed_fields_and_the_exact_text(self) -> None:
        payload = emitted()
        event = parse_event(payload)
        assert (event.id, event.type, event.tenant_id, event.livemode) == (
            "evt_01jd00000000000000000000aa",
            "payment_intent.succeeded",
            "ten_1",
            True,
        )
        assert event.created_at == AT
        assert event.payload == payload

    @pytest.mark.parametrize(
        ("payload", "reason"),
        [
            ("[1, 2]", "not an event"),
            (emitted(object="payment_intent"), "not an event"),
            (emitted(id="pi_1"), "an evt_ id and a type"),
            (emitted(type=""), "an evt_ id and a type"),
            (emitted(tenant_id=None), "a tenant"),
            (emitted(created="yesterday"), "created"),
            (emitted(livemode="yes"), "livemode"),
        ],
    )
    def test_what_is_not_an_event(self, payload: str, reason: str) -> None:
        with pytest.raises(ValueError, match=reason):
            parse_event(payload)

    def test_not_json_at_all(self) -> None:
        with pytest.raises(ValueError, match="Expecting value"):
            parse_event("not json")


def test_the_patterns_that_select_a_type() -> None:
    assert patterns_matching("payment_intent.payment_failed") == [
        "*",
        "payment_intent.*",
        "payment_intent.payment_failed",
    ]
    assert patterns_matching("a.b.c") == ["*", "a.*", "a.b.*", "a.b.c"]


@pytest.mark.parametrize(
    ("query", "bounds"),
    [
        ({}, {}),
        ({"created": 100}, {">=": 100, "<=": 100}),
        ({"created": {"gt": 1, "lte": 9}}, {">": 1, "<=": 9}),
    ],
)
def test_created_bounds(query: dict[str, Any], bounds: dict[str, int]) -> None:
    assert EventListParams.model_validate(query).created_bounds() == bounds


def endpoint_row(**changes: Any) -> endpoints_repo.Endpoint:
    values: dict[str, Any] = {
        "id": "we_1",
        "tenant_id": "ten_1",
        "livemode": False,
        "url": "https://hooks.example.com/",
        "description": None,
        "enabled_events": ["*"],
        "status": "enabled",
        "disabled_reason": None,
        "is_default": True,
        "failing_since": None,
        "created_at": AT,
        "signature": "standard",
        "metadata_json": '{"team": "orders"}',
        "api_version": None,
        "previous_secret_expires_at": None,
        **changes,
    }
    return endpoints_repo.Endpoint(**values)


class TestViews:
    def test_an_endpoint_without_its_secret(self) -> None:
        shown = webhook_endpoint(endpoint_row()).model_dump()
        assert shown == {
            "id": "we_1",
            "object": "webhook_endpoint",
            "url": "https://hooks.example.com/",
            "description": None,
            "enabled_events": ["*"],
            "status": "enabled",
            "disabled_reason": None,
            "livemode": False,
            "default": True,
            "created": CREATED,
            "signature": "standard",
            "metadata": {"team": "orders"},
            "api_version": None,
            "previous_secret_expires": None,
            "secret": None,
        }

    def test_an_endpoint_after_a_roll(self) -> None:
        rolled = endpoint_row(previous_secret_expires_at=datetime.fromtimestamp(CREATED + 60, UTC))
        shown = webhook_endpoint(rolled, secret="whsec_x")
        assert (shown.previous_secret_expires, shown.secret) == (CREATED + 60, "whsec_x")

    @pytest.mark.parametrize("next_at", [None, datetime.fromtimestamp(CREATED + 5, UTC)])
    def test_an_attempt(self, next_at: datetime | None) -> None:
        attempt = deliveries_repo.Attempt(
            id="whatt_1",
            delivery_id="whdel_1",
            event_id="evt_1",
            endpoint_id="we_1",
            tenant_id="ten_1",
            livemode=True,
            attempt=2,
            url="https://hooks.example.com/",
            succeeded=False,
            status_code=503,
            error="HTTP 503: down",
            duration_ms=12,
            started_at=AT,
            finished_at=datetime.fromtimestamp(CREATED + 1, UTC),
            next_attempt_at=next_at,
        )
        assert delivery_attempt(attempt).model_dump() == {
            "id": "whatt_1",
            "object": "webhook_delivery_attempt",
            "event_id": "evt_1",
            "webhook_endpoint": "we_1",
            "delivery": "whdel_1",
            "url": "https://hooks.example.com/",
            "attempt": 2,
            "succeeded": False,
            "status_code": 503,
            "error": "HTTP 503: down",
            "duration_ms": 12,
            "created": CREATED,
            "completed": CREATED + 1,
            "next_attempt": None if next_at is None else CREATED + 5,
            "livemode": True,
        }
