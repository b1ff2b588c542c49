"""One trace across real processes: a stack started as `micro dev up` starts it, every app
exporting to an OTLP/HTTP receiver this test runs (`MICRO_OTEL_ENDPOINT`), and a payment
intent confirmed into a wallet through the gateway with the caller's own W3C `traceparent`.

The confirm's spans, and those of the event it caused (the outbox relay's publish, the
events service taking it in, the webhook delivery), all arrive in the caller's trace as one
tree; the webhook endpoint and `micro listen`'s local app get a `traceparent` of that trace;
no span carries the API key, the card or a body."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.accounts import create_key, key_headers, register
from tests.e2e.stack import RunningStack, running_stack
from tests.support.endpoint_app import receiver as webhook_receiver
from tests.support.listen import READY, Listen, wait_for_deliveries
from tests.support.listen import receiver as listen_receiver
from tests.support.otlp import OtlpReceiver, ReceivedSpan, threaded_otlp_receiver, wait_for_spans
from tests.support.polling import eventually
from tests.support.servers import scratch_dir

pytestmark = pytest.mark.e2e

# opentelemetry.proto's Span.SpanKind
SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5
CARD = "4242424242424242"


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    with threaded_otlp_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def stack(otlp: OtlpReceiver) -> Iterator[RunningStack]:
    settings = {
        "MICRO_OTEL_ENDPOINT": otlp.url,
        # The SDK's batch processor sends every 5 s by default: sooner, so the test is short.
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    with scratch_dir("micro-traces-") as root, running_stack(root, settings) as running:
        yield running


def new_trace() -> tuple[str, str]:
    """A caller's trace id and its `traceparent` (sampled), as a client's SDK would send."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, f"00-{trace_id}-{span_id}-01"


def ok(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in (statuses or (200,)), response.text
    body: dict[str, Any] = response.json()
    return body


def find(spans: list[ReceivedSpan], service: str, kind: int, path: str = "") -> list[ReceivedSpan]:
    """`service`'s spans of `kind`, those whose request path ends with `path` if given."""
    return [
        s
        for s in spans
        if s.service == service
        and s.kind == kind
        and str(s.attributes.get("url.path", "")).endswith(path)
    ]


def chain_complete(spans: list[ReceivedSpan]) -> bool:
    return all(
        (
            find(spans, "gateway", SERVER, "/confirm"),
            find(spans, "payments", SERVER, "/confirm"),
            find(spans, "payments", CLIENT, "/ledger/transactions"),
            find(spans, "ledger", SERVER, "/ledger/transactions"),
            find(spans, "payments", PRODUCER),
            find(spans, "events", CONSUMER),
            find(spans, "events", CLIENT),
        )
    )


def test_a_confirm_into_a_wallet_is_one_trace_from_the_gateway_to_the_webhook(
    stack: RunningStack, otlp: OtlpReceiver
) -> None:
    with stack.client() as gw, webhook_receiver() as endpoint:
        owner = register(gw)
        api_key = create_key(gw, owner)["secret"]
        headers = key_headers(api_key)
        endpoint.secret = ok(
            gw.post(
                "/webhook_endpoints",
                json={"url": endpoint.url, "enabled_events": ["payment_intent.succeeded"]},
                headers=headers,
            )
        )["secret"]
        wallet = ok(
            gw.post("/wallet", json={"owner": "cus_trace", "currency": "usd"}, headers=headers),
            201,
        )
        intent = ok(
            gw.post(
                "/payments/payment_intents",
                json={"amount": 4200, "currency": "usd", "wallet_id": wallet["id"]},
                headers=headers,
            ),
            200,
            201,
        )
        trace_id, traceparent = new_trace()
        confirmed = ok(
            gw.post(
                f"/payments/payment_intents/{intent['id']}/confirm",
                json={"payment_method": "pm_card_visa"},
                headers={**headers, "traceparent": traceparent},
            )
        )
        assert confirmed["status"] == "succeeded"
        # The money is in the wallet: the confirm's ledger posting is the one traced below.
        balance = ok(gw.get(f"/wallet/{wallet['id']}/balance", headers=headers))
        assert balance["available"] == 4200
        eventually(endpoint.ids, within=60, what="the webhook delivery")
        _, delivered, _ = endpoint.received[0]

    spans = wait_for_spans(otlp, trace_id, chain_complete)

    # The webhook endpoint got a context of the caller's trace (the delivery span's own).
    (delivery,) = find(spans, "events", CLIENT)
    assert delivered["traceparent"] == f"00-{trace_id}-{delivery.span_id}-01"

    # One tree: the root is the gateway's SERVER span, a child of the caller's span; every
    # other span's parent is a span of the trace.
    ids = {s.span_id for s in spans}
    (gateway,) = find(spans, "gateway", SERVER, "/confirm")
    assert gateway.parent_span_id == traceparent.split("-")[2]
    orphans = [s.name for s in spans if s is not gateway and s.parent_span_id not in ids]
    assert not orphans, orphans

    # The hops in order: each one's parent is the hop before it.
    def parent(span: ReceivedSpan) -> ReceivedSpan:
        (found,) = [s for s in spans if s.span_id == span.parent_span_id]
        return found

    (payments,) = find(spans, "payments", SERVER, "/confirm")
    assert parent(parent(payments)) is gateway  # through the gateway's proxy CLIENT span
    assert parent(payments).kind == CLIENT
    (post,) = find(spans, "payments", CLIENT, "/ledger/transactions")
    (ledger,) = find(spans, "ledger", SERVER, "/ledger/transactions")
    assert parent(ledger) is post
    assert payments.span_id in ancestors(post, spans)
    (relay,) = find(spans, "payments", PRODUCER)
    assert payments.span_id in ancestors(relay, spans)
    consumers = find(spans, "events", CONSUMER)
    assert any(parent(c) in find(spans, "payments", PRODUCER) + find(spans, "ledger", PRODUCER)
               for c in consumers)  # fmt: skip
    assert parent(delivery) in consumers

    # Tenant, mode and ids as attributes; never the key, the card or a body.
    assert gateway.attributes["micro.tenant_id"] == owner.tenant_id
    assert gateway.attributes["micro.mode"] == "test"
    assert payments.attributes["micro.payment_intent_id"] == intent["id"]
    assert payments.attributes["micro.tenant_id"] == owner.tenant_id
    assert delivery.attributes.get("micro.tenant_id") == owner.tenant_id
    everything = json.dumps([s.attributes for s in spans])
    for secret in (api_key, CARD, "pm_card_visa", endpoint.secret):
        assert secret not in everything
    keys = {key for s in spans for key in s.attributes}
    assert not [k for k in keys if "amount" in k or "body" in k or "header" in k], keys


def ancestors(span: ReceivedSpan, spans: list[ReceivedSpan]) -> set[str]:
    by_id = {s.span_id: s for s in spans}
    found: set[str] = set()
    while span.parent_span_id in by_id:
        found.add(span.parent_span_id)
        span = by_id[span.parent_span_id]
    return found


def test_micro_listen_forwards_the_trace_of_the_request_behind_the_event(
    stack: RunningStack, tmp_path: Path
) -> None:
    with stack.client() as gw:
        owner = register(gw)
        api_key = create_key(gw, owner)["secret"]
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("MICRO_API_KEY", None)
    env.pop("MICRO_OTEL_ENDPOINT", None)
    args = ["--api-key", api_key, "--api-base", stack.gateway, "--events", "payment_intent.*"]
    with listen_receiver() as app:
        listen = Listen(["--forward-to", app.url, *args], env)
        try:
            app.secret = listen.wait_for(READY.pattern).group(1)
            trace_id, traceparent = new_trace()
            with stack.client() as gw:
                created = ok(
                    gw.post(
                        "/payments/payment_intents",
                        json={"amount": 2000, "currency": "usd"},
                        headers={**key_headers(api_key), "traceparent": traceparent},
                    ),
                    200,
                    201,
                )
            [got] = wait_for_deliveries(app, 1)
        finally:
            assert listen.stop() == 0
    assert got.verified
    assert json.loads(got.body)["data"]["object"]["id"] == created["id"]
    forwarded = got.headers["traceparent"]
    assert forwarded.split("-")[1] == trace_id
    # Not the caller's own span: the context of a hop that carried the event.
    assert forwarded != traceparent
