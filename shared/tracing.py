"""OpenTelemetry traces across every hop ("Traces" in README.md, docs/architecture.md).

On when the app's `otel_endpoint` is set (an OTLP/HTTP base URL, `http://collector:4318`):
`start` then builds the process's tracer provider and a batching OTLP exporter. Off (the
default) there is no provider, no exporter and no span: the one thing done per request is to
keep an incoming W3C `traceparent` (and `tracestate`) so that calls made for the request pass
it on unchanged (`inject`), and the outbox stores it (`traceparent`).

The spans are written here, not by the contrib instrumentations: those wrap every request,
query and Redis command even with tracing off, and record statements and URLs whole; these
are few and carry only ids (tenant, mode, objects), never secrets, keys, tokens, card data
or bodies:

- a SERVER span per request (`RequestContextMiddleware`), continuing the caller's context;
- a CLIENT span per proxied request (gateway) and per internal call (`shared.internal_client`),
  also for a call made later for a request (`resumed`: payments' ledger outbox row keeps the
  request's traceparent, so its posting is in that trace whichever relay makes it);
- a PRODUCER span per outbox relay batch and trace (`shared.outbox`), whose context goes
  beside the event as the Redis stream field `traceparent`;
- a CONSUMER span per events-service batch and trace, and a CLIENT span per webhook
  delivery attempt, whose context the POST carries as `traceparent`.

The provider is this module's, not the OpenTelemetry API's global one: an app started in a
test process (several per process) sets its own and takes it down at shutdown.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_TRACEPARENT_B = b"traceparent"
_TRACESTATE_B = b"tracestate"
# W3C Trace Context, version 00 (a later version's first four fields read the same).
_VALID = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
# Where shared/identity.py keeps a service's verified caller on the ASGI scope.
_IDENTITY_KEY = "micro.identity"
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_MAX_TRACESTATE = 512

# Ids in a URL path become attributes: `pi_...` is `micro.payment_intent_id`.
_ID_SEGMENT = re.compile(r"^([a-z][a-z0-9]{0,15})_[0-9a-z]{26}$")
_ID_NAMES = {
    "acc": "account",
    "ch": "charge",
    "cus": "customer",
    "evt": "event",
    "pi": "payment_intent",
    "pm": "payment_method",
    "po": "payout",
    "re": "refund",
    "rcn": "reconciliation",
    "ten": "tenant",
    "txn": "transaction",
    "usr": "user",
    "wal": "wallet",
    "we": "webhook_endpoint",
    "wop": "wallet_operation",
}

# The incoming context kept while tracing is off: (traceparent, tracestate).
_passed: ContextVar[tuple[str, str | None] | None] = ContextVar("micro_traceparent", default=None)

_tracer: trace.Tracer | None = None
_provider: Any = None  # the SDK's TracerProvider, imported only when tracing is on


def enabled() -> bool:
    return _tracer is not None


def start(service: str, endpoint: str | None, *, exporter: Any = None) -> Any:
    """Turn tracing on for this process when `endpoint` is set (or a test's `exporter` is
    given, exported synchronously); returns the provider for `stop`, None when off."""
    global _tracer, _provider
    if not endpoint and exporter is None:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        url = f"{str(endpoint).rstrip('/')}/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    _provider, _tracer = provider, provider.get_tracer("micro")
    return provider


def stop(provider: Any) -> None:
    """Flush and take down what `start` set up (the spans still queued are sent)."""
    global _tracer, _provider
    if provider is None:
        return
    if _provider is provider:
        _provider, _tracer = None, None
    provider.shutdown()


# -- the incoming context --------------------------------------------------------------------


def parse(traceparent: str | None) -> SpanContext | None:
    """A valid `traceparent` as a remote span context; None for anything else."""
    if not traceparent:
        return None
    match = _VALID.match(traceparent.strip().lower())
    if match is None or match.group(1) == "ff":
        return None
    version, trace_id, span_id, flags = match.group(1, 2, 3, 4)
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN or (version == "00" and match.group(5)):
        return None
    return SpanContext(
        int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(int(flags, 16))
    )


def format_traceparent(span_context: SpanContext) -> str:
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
        f"{int(span_context.trace_flags):02x}"
    )


def incoming(headers: Sequence[tuple[bytes, bytes]]) -> tuple[str, str | None] | None:
    """The (traceparent, tracestate) an ASGI request carries, if it carries a traceparent."""
    parent: str | None = None
    state: str | None = None
    for key, value in headers:
        if key == _TRACEPARENT_B:
            parent = value.decode("latin-1")
        elif key == _TRACESTATE_B:
            state = value.decode("latin-1")[:_MAX_TRACESTATE]
    return (parent, state) if parent else None


def _remote_context(passed: tuple[str, str | None] | None) -> context.Context | None:
    found = parse(passed[0]) if passed else None
    if found is None:
        return None
    if passed and passed[1]:
        from opentelemetry.trace import TraceState

        try:
            state = TraceState.from_header([passed[1]])
        except ValueError:
            state = None
        if state is not None:
            found = SpanContext(
                found.trace_id,
                found.span_id,
                is_remote=True,
                trace_flags=found.trace_flags,
                trace_state=state,
            )
    return trace.set_span_in_context(NonRecordingSpan(found))


# -- spans -------------------------------------------------------------------------------------


@contextmanager
def request_span(scope: Mapping[str, Any], *, service: str) -> Iterator[Span | None]:
    """An ASGI request's SERVER span (tracing on), or just the caller's context kept (off)."""
    passed = incoming(scope["headers"])
    if _tracer is None:
        if passed is None:
            yield None
            return
        token = _passed.set(passed)
        try:
            yield None
        finally:
            _passed.reset(token)
        return
    method, path = scope.get("method", "GET"), scope["path"]
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "url.path": path,
        "micro.service": service,
        **path_ids(path),
    }
    with _tracer.start_as_current_span(
        f"{method} {service}",
        context=_remote_context(passed),
        kind=SpanKind.SERVER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def finish_request(span: Span | None, scope: Mapping[str, Any], *, route: str, status: int) -> None:
    """Name the span by its route template (bounded) and add the verified tenant and mode."""
    if span is None:
        return
    span.update_name(f"{scope.get('method', 'GET')} {route}")
    identity = scope.get(_IDENTITY_KEY)
    tenant = getattr(identity, "tenant_id", None)
    if tenant:
        span.set_attribute("micro.tenant_id", tenant)
        span.set_attribute("micro.mode", "live" if getattr(identity, "livemode", False) else "test")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))


def annotate(**attributes: str | int | bool | None) -> None:
    """Add `micro.<name>` attributes to the span being recorded (ids, tenant, mode)."""
    if _tracer is None:
        return
    span = trace.get_current_span()
    if span.is_recording():
        for name, value in attributes.items():
            if value is not None:
                span.set_attribute(f"micro.{name}", value)


def annotate_scope(tenant_id: str | None, livemode: bool) -> None:
    """The tenant and mode a request acts in."""
    if _tracer is not None:
        annotate(tenant_id=tenant_id, mode="live" if livemode else "test")


def path_ids(path: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for segment in path.split("/"):
        match = _ID_SEGMENT.match(segment)
        if match is not None:
            name = _ID_NAMES.get(match.group(1))
            if name is not None:
                found[f"micro.{name}_id"] = segment
    return found


@contextmanager
def client_span(
    name: str,
    *,
    parent: str | None = None,
    kind: SpanKind = SpanKind.CLIENT,
    attributes: Mapping[str, Any] | None = None,
    links: Sequence[str] = (),
) -> Iterator[Span | None]:
    """A CLIENT (or PRODUCER/CONSUMER) span, as the current one; None when tracing is off.

    `parent`: a stored traceparent to continue (the outbox row's, the stream entry's), else
    the current context; `links`: other stored traceparents the work also belongs to."""
    if _tracer is None:
        yield None
        return
    ctx = _remote_context((parent, None)) if parent else None
    span_links = [Link(found) for link in links if (found := parse(link)) is not None]
    with _tracer.start_as_current_span(
        name, context=ctx, kind=kind, attributes=attributes, links=span_links
    ) as span:
        yield span


@contextmanager
def resumed(traceparent: str | None) -> Iterator[None]:
    """Work done later for a request (a posting its outbox row owes), in that request's
    trace: the calls made inside are, on, spans whose parent is the stored context and,
    off, carry it on as the request's own calls would. Nothing for no valid traceparent."""
    if parse(traceparent) is None:
        yield
        return
    assert traceparent is not None
    if _tracer is None:
        token = _passed.set((traceparent, None))
        try:
            yield
        finally:
            _passed.reset(token)
        return
    attached = context.attach(_remote_context((traceparent, None)) or context.get_current())
    try:
        yield
    finally:
        context.detach(attached)


def inject(headers: MutableMapping[str, str]) -> None:
    """The W3C headers of an outgoing call: the current span's (on), or the incoming
    request's own (off), replacing whatever `headers` holds."""
    if _tracer is not None:
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            headers[TRACEPARENT] = format_traceparent(span_context)
            if span_context.trace_state:
                headers[TRACESTATE] = span_context.trace_state.to_header()
            elif TRACESTATE in headers:
                del headers[TRACESTATE]
        return
    passed = _passed.get()
    if passed is not None:
        headers[TRACEPARENT] = passed[0]
        if passed[1]:
            headers[TRACESTATE] = passed[1]


def current_traceparent() -> str | None:
    """What the outbox stores with a row: the current span's context, or the incoming one."""
    if _tracer is not None:
        span_context = trace.get_current_span().get_span_context()
        return format_traceparent(span_context) if span_context.is_valid else None
    passed = _passed.get()
    return passed[0] if passed is not None and parse(passed[0]) is not None else None


def valid_traceparent(value: object) -> str | None:
    """`value` when it is a traceparent worth passing on (stream fields, listen frames)."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value if isinstance(value, str) and parse(value) is not None else None


def log_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) in hex of the span being recorded, for the JSON log line."""
    if _tracer is None:
        return None
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}"


def fail(span: Span | None, description: str) -> None:
    """Mark a span failed with a short reason of ours (never a body or a secret)."""
    if span is not None:
        span.set_status(Status(StatusCode.ERROR, description))
