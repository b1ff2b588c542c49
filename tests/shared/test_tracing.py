"""Traces in one process (shared/tracing.py): an incoming `traceparent` is continued by the
request's span and passed on by its internal calls; off, nothing but that is done (no
provider, no exporter, no span); the JSON log line carries the span's ids."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator

import aiohttp
import httpx
import pytest
from aiohttp import web
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shared import tracing
from shared.internal_client import CallPolicy, InternalClient, Scope
from shared.logging import JsonFormatter
from shared.middleware import RequestContextMiddleware
from tests.support.aiohttp_server import serving
from tests.support.secrets import TEST_IDENTITY_KEY

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CALLER_TRACE, CALLER_SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
TENANT = Scope(tenant_id="ten_01jd0000000000000000000000", livemode=False)


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A service the app calls, keeping the headers of every request it gets."""
    seen: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/payment_intents/{id}", handle)
    async with serving(app) as url:
        yield url, seen


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the shared JSON formatter writes while the test runs."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("payments"))
    logger = logging.getLogger("micro.request")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    """Tracing on in this process, its spans kept in memory instead of sent."""
    exporter = InMemorySpanExporter()
    provider = tracing.start("payments", None, exporter=exporter)
    try:
        yield exporter
    finally:
        tracing.stop(provider)


def app_calling(upstream_url: str) -> Starlette:
    """A service whose one route calls another service through the shared client."""

    async def route(request: Request) -> JSONResponse:
        async with aiohttp.ClientSession() as http:
            client = InternalClient(
                http,
                principal="payments",
                signing_key=TEST_IDENTITY_KEY.split(",")[0],
                policy=CallPolicy(timeout=5, connect_timeout=2, attempts=1, backoff=0,
                                  backoff_max=0),
            )  # fmt: skip
            pi = "pi_01jd0000000000000000000000"
            await client.upstream("ledger", upstream_url).call(
                "GET", f"/payment_intents/{pi}", TENANT
            )
        return JSONResponse({"stored": tracing.current_traceparent()})

    return Starlette(
        routes=[Route("/pay", route)],
        middleware=[Middleware(RequestContextMiddleware, service="payments")],
    )


async def get_pay(app: Starlette, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://payments") as client:
        return await client.get("/pay", headers=headers)


def by_kind(spans: tuple[ReadableSpan, ...], kind: SpanKind) -> ReadableSpan:
    [found] = [span for span in spans if span.kind is kind]
    return found


class TestOn:
    async def test_an_incoming_traceparent_is_continued_and_passed_on(
        self,
        exported: InMemorySpanExporter,
        upstream: tuple[str, list[dict[str, str]]],
        log_lines: io.StringIO,
    ) -> None:
        url, seen = upstream
        answer = await get_pay(app_calling(url), {"traceparent": CALLER, "tracestate": "v=1"})
        assert answer.status_code == 200
        spans = exported.get_finished_spans()
        server, client = by_kind(spans, SpanKind.SERVER), by_kind(spans, SpanKind.CLIENT)
        assert server.context is not None
        assert client.context is not None
        # The request's span is the caller's child, in the caller's trace.
        assert f"{server.context.trace_id:032x}" == CALLER_TRACE
        assert server.parent is not None
        assert f"{server.parent.span_id:016x}" == CALLER_SPAN
        assert server.context.trace_state.get("v") == "1"
        assert server.name == "GET /pay"
        # The internal call is the request's child, and the callee was told so.
        assert client.parent is not None
        assert client.parent.span_id == server.context.span_id
        sent = seen[0]["traceparent"]
        assert sent == tracing.format_traceparent(client.context)
        assert seen[0]["tracestate"] == "v=1"
        assert client.attributes is not None
        assert client.attributes["micro.tenant_id"] == TENANT.tenant_id
        assert client.attributes["micro.mode"] == "test"
        assert client.attributes["micro.payment_intent_id"] == "pi_01jd0000000000000000000000"
        # What an outbox row written in this request would store: the request's own span.
        assert answer.json()["stored"] == tracing.format_traceparent(server.context)
        # The access log line is written inside the span and names it.
        line = json.loads(log_lines.getvalue().splitlines()[-1])
        assert line["trace_id"] == CALLER_TRACE
        assert line["span_id"] == f"{server.context.span_id:016x}"

    async def test_a_malformed_traceparent_starts_a_trace_of_its_own(
        self, exported: InMemorySpanExporter, upstream: tuple[str, list[dict[str, str]]]
    ) -> None:
        url, _ = upstream
        bad = "00-00000000000000000000000000000000-b7ad6b7169203331-01"
        await get_pay(app_calling(url), {"traceparent": bad})
        server = by_kind(exported.get_finished_spans(), SpanKind.SERVER)
        assert server.parent is None
        assert server.context is not None
        assert server.context.trace_id != 0


class TestOff:
    async def test_nothing_is_recorded_and_the_callers_context_goes_on_unchanged(
        self, upstream: tuple[str, list[dict[str, str]]], log_lines: io.StringIO
    ) -> None:
        assert not tracing.enabled()
        url, seen = upstream
        answer = await get_pay(app_calling(url), {"traceparent": CALLER, "tracestate": "v=1"})
        assert answer.status_code == 200
        assert (seen[0]["traceparent"], seen[0]["tracestate"]) == (CALLER, "v=1")
        assert answer.json()["stored"] == CALLER
        line = json.loads(log_lines.getvalue().splitlines()[-1])
        assert "trace_id" not in line
        assert "span_id" not in line

    async def test_no_traceparent_is_invented(
        self, upstream: tuple[str, list[dict[str, str]]]
    ) -> None:
        url, seen = upstream
        answer = await get_pay(app_calling(url), {})
        assert "traceparent" not in {name.lower() for name in seen[0]}
        assert answer.json()["stored"] is None

    def test_no_endpoint_means_no_provider_and_no_exporter(self) -> None:
        threads = set(threading.enumerate())
        assert tracing.start("gateway", None) is None
        assert not tracing.enabled()
        assert set(threading.enumerate()) == threads

    def test_an_endpoint_means_a_batching_otlp_exporter(self) -> None:
        provider = tracing.start("gateway", "http://collector.invalid:4318/")
        try:
            assert tracing.enabled()
            [processor] = provider._active_span_processor._span_processors
            exporter = processor._batch_processor._exporter
            assert type(exporter).__name__ == "OTLPSpanExporter"
            assert exporter._endpoint == "http://collector.invalid:4318/v1/traces"
        finally:
            tracing.stop(provider)
        assert not tracing.enabled()


class TestResumed:
    """Work done later for a request (a posting its outbox row owes) is in its trace."""

    async def test_on_a_later_calls_span_is_a_child_of_the_stored_context(
        self, exported: InMemorySpanExporter, upstream: tuple[str, list[dict[str, str]]]
    ) -> None:
        url, seen = upstream
        with tracing.resumed(CALLER):
            await call_upstream(url)
        client = by_kind(exported.get_finished_spans(), SpanKind.CLIENT)
        assert client.context is not None
        assert client.parent is not None
        assert f"{client.context.trace_id:032x}" == CALLER_TRACE
        assert f"{client.parent.span_id:016x}" == CALLER_SPAN
        assert seen[0]["traceparent"] == tracing.format_traceparent(client.context)
        # Outside it, the stored context is gone again.
        assert tracing.current_traceparent() is None

    async def test_off_a_later_call_carries_the_stored_context_on(
        self, upstream: tuple[str, list[dict[str, str]]]
    ) -> None:
        url, seen = upstream
        with tracing.resumed(CALLER):
            await call_upstream(url)
        await call_upstream(url)
        assert seen[0]["traceparent"] == CALLER
        assert "traceparent" not in {name.lower() for name in seen[1]}

    async def test_nothing_stored_or_a_malformed_value_continues_nothing(
        self, upstream: tuple[str, list[dict[str, str]]]
    ) -> None:
        url, seen = upstream
        for stored in (None, "00-nope"):
            with tracing.resumed(stored):
                await call_upstream(url)
        assert all("traceparent" not in {name.lower() for name in h} for h in seen)


async def call_upstream(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        client = InternalClient(
            http,
            principal="payments",
            signing_key=TEST_IDENTITY_KEY.split(",")[0],
            policy=CallPolicy(timeout=5, connect_timeout=2, attempts=1, backoff=0, backoff_max=0),
        )
        await client.upstream("ledger", url).call(
            "GET", "/payment_intents/pi_01jd0000000000000000000000", TENANT
        )
