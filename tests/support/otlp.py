"""An OTLP/HTTP trace receiver for the tests: a real HTTP server on a free port that takes
`POST /v1/traces` (protobuf `ExportTraceServiceRequest`, as a collector does) and keeps every
span it was sent, decoded. `python -m tests.support.otlp PORT` runs one as a sink (the
benchmark with tracing on: it forgets the spans, and `GET /count` says how many came);
`threaded_otlp_receiver` runs one in a thread of its own, for a blocking test."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.support.aiohttp_server import serving


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    service: str
    name: str
    kind: int  # opentelemetry.proto's Span.SpanKind: 2 server, 3 client, 4 producer, 5 consumer
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root span
    attributes: dict[str, Any]


@dataclass
class OtlpReceiver:
    url: str = ""
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0
    # Every span ever received, kept when `spans` is cleared (the sink's `GET /count`).
    span_count: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        export = ExportTraceServiceRequest()
        export.ParseFromString(raw)
        self.requests += 1
        for resource_spans in export.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                self.span_count += len(scope_spans.spans)
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            service=str(resource.get("service.name", "")),
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes=_attributes(span.attributes),
                        )
                    )
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    async def count(self, request: web.Request) -> web.Response:
        return web.json_response({"spans": self.span_count, "requests": self.requests})

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [span for span in list(self.spans) if span.trace_id == trace_id]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


@contextlib.asynccontextmanager
async def otlp_receiver(port: int | None = None) -> AsyncIterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", receiver.handle)
    app.router.add_get("/count", receiver.count)
    async with serving(app, port=port) as url:
        receiver.url = url
        yield receiver


@contextlib.contextmanager
def threaded_otlp_receiver() -> Iterator[OtlpReceiver]:
    """`otlp_receiver` on an event loop in a thread of its own: a blocking test (one driving a
    stack of real processes over plain HTTP) reads `spans` while the thread takes exports."""
    started = threading.Event()
    stopping: list[Callable[[], object]] = []
    found: list[OtlpReceiver] = []
    failed: list[BaseException] = []

    async def serve() -> None:
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        stopping.append(lambda: loop.call_soon_threadsafe(done.set))
        async with otlp_receiver() as receiver:
            found.append(receiver)
            started.set()
            await done.wait()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as error:  # reported to the test, not lost in the thread
            failed.append(error)
            started.set()

    thread = threading.Thread(target=run, name="otlp-receiver", daemon=True)
    thread.start()
    started.wait(30)
    if failed or not found:
        raise RuntimeError(f"the OTLP receiver did not start: {failed}")
    try:
        yield found[0]
    finally:
        stopping[0]()
        thread.join(10)


def wait_for_spans(
    receiver: OtlpReceiver,
    trace_id: str,
    done: Callable[[list[ReceivedSpan]], bool],
    within: float = 60,
) -> list[ReceivedSpan]:
    """The spans of `trace_id` once `done` holds of them (apps export in batches, every few
    seconds); the spans received so far, in the failure, when it never does."""
    deadline = time.monotonic() + within
    while True:
        spans = receiver.trace(trace_id)
        if done(spans):
            return spans
        if time.monotonic() > deadline:
            names = sorted(f"{s.service}: {s.name} ({s.kind})" for s in spans)
            raise AssertionError(f"the trace never completed; it holds {names}")
        time.sleep(0.2)


async def _sink(port: int) -> None:
    async with otlp_receiver(port) as receiver:
        while True:
            await asyncio.sleep(5)
            receiver.spans.clear()


if __name__ == "__main__":
    asyncio.run(_sink(int(sys.argv[1])))
