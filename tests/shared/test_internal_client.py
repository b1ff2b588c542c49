"""The internal HTTP client: tokens, request ids, bounded retries, and no call inside a
database transaction."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pydantic
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cli.stack.ports import free_port
from services.wallet.settings import WalletSettings
from shared.context import request_id_var
from shared.db import TransactionHeldError, create_pool, transaction
from shared.identity import verify
from shared.internal_client import (
    CallPolicy,
    Refused,
    Scope,
    Unavailable,
    Upstream,
    open_internal_client,
)
from tests.support.servers import CreateDb
from tests.support.wallet import serving

KEY = "internal-client-test-signing-key-0123456789abcdef"
SCOPE = Scope("ten_calls", False)


@dataclass
class FarSide:
    """A service that answers each path its own way, and remembers what it was sent."""

    hits: Counter[str] = field(default_factory=Counter)
    headers: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def answer(request: Request) -> Response:
            path = request.url.path
            self.hits[path] += 1
            self.headers.append(dict(request.headers))
            if path == "/ok":
                return JSONResponse({"ok": True, "seen": await request.json()}, status_code=201)
            if path == "/refuse":
                error = {"type": "invalid_request_error", "code": "insufficient_funds",
                         "message": "Not enough."}  # fmt: skip
                return JSONResponse({"error": error}, status_code=402)
            if path == "/flaky" and self.hits[path] < 3:
                return JSONResponse({"error": {"code": "internal_error"}}, status_code=503)
            if path == "/busy" and self.hits[path] < 2:
                error = {"code": "idempotency_key_in_use", "message": "Still running."}
                return JSONResponse({"error": error}, status_code=409)
            if path == "/throttled" and self.hits[path] < 2:
                return Response(status_code=429)
            if path == "/broken":
                return Response("<html>oops</html>", status_code=500)
            if path == "/slow":
                await asyncio.sleep(2)
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST"])])


def settings(**values: object) -> WalletSettings:
    base: dict[str, object] = {
        "identity_keys": [KEY],
        "internal_attempts": 3,
        "internal_backoff": 0.01,
        "internal_backoff_max": 0.02,
        "internal_timeout": 0.5,
    }
    return WalletSettings.model_validate({**base, **values})


@contextlib.asynccontextmanager
async def far_side(**values: object) -> AsyncIterator[tuple[Upstream, FarSide]]:
    side = FarSide()
    async with (
        serving(side.app()) as url,
        open_internal_client(settings(**values)) as client,
    ):
        yield client.upstream("far", url), side


class TestAnswers:
    async def test_a_2xx_is_the_answer(self) -> None:
        async with far_side() as (far, side):
            answer = await far.call("POST", "/ok", SCOPE, body={"amount": 5})
        assert (answer.status, answer.body) == (201, {"ok": True, "seen": {"amount": 5}})
        assert side.hits["/ok"] == 1

    async def test_a_4xx_is_refused_at_once_with_the_services_error(self) -> None:
        async with far_side() as (far, side):
            with pytest.raises(Refused) as caught:
                await far.call("POST", "/refuse", SCOPE, body={})
        refused = caught.value
        assert (refused.upstream_status, refused.reason_code) == (402, "insufficient_funds")
        assert refused.answer["error"]["message"] == "Not enough."
        # Permanent: asking again would get the same answer.
        assert side.hits["/refuse"] == 1
        assert refused.status_code == 502

    @pytest.mark.parametrize("path", ["/flaky", "/busy", "/throttled"])
    async def test_not_now_answers_are_retried_until_one_is_ok(self, path: str) -> None:
        async with far_side() as (far, side):
            answer = await far.call("GET", path, SCOPE)
        assert answer.body == {"ok": True}
        assert side.hits[path] == (3 if path == "/flaky" else 2)

    async def test_5xx_to_the_last_attempt_is_unavailable(self) -> None:
        async with far_side(internal_attempts=4) as (far, side):
            with pytest.raises(Unavailable) as caught:
                await far.call("GET", "/broken", SCOPE)
        assert side.hits["/broken"] == 4
        assert caught.value.status_code == 503
        assert "answered 500" in caught.value.message

    async def test_a_slow_service_is_cut_off_at_the_timeout(self) -> None:
        async with far_side(internal_timeout=0.2, internal_attempts=2) as (far, side):
            started = asyncio.get_running_loop().time()
            with pytest.raises(Unavailable, match=r"no answer in 0\.2s"):
                await far.call("GET", "/slow", SCOPE)
            elapsed = asyncio.get_running_loop().time() - started
        assert side.hits["/slow"] == 2
        assert elapsed < 1.0

    async def test_nobody_listening_is_unavailable_after_every_attempt(self) -> None:
        async with open_internal_client(settings()) as client:
            far = client.upstream("far", f"http://127.0.0.1:{free_port()}")
            with pytest.raises(Unavailable, match="far service is unavailable"):
                await far.call("GET", "/anything", SCOPE)


class TestHeaders:
    async def test_the_identity_is_the_caller_in_the_scope_signed_once(self) -> None:
        async with far_side() as (far, side):
            await far.call("GET", "/ok-get", SCOPE)
            await far.call("GET", "/ok-get", SCOPE)
            await far.call("GET", "/ok-get", Scope("ten_other", True))
        tokens = [h["x-micro-identity"] for h in side.headers]
        assert tokens[0] == tokens[1] != tokens[2]
        first, other = verify(tokens[0], [KEY]), verify(tokens[2], [KEY])
        assert (first.principal, first.principal_type) == ("wallet", "service")
        assert (first.tenant_id, first.livemode) == ("ten_calls", False)
        assert (other.tenant_id, other.livemode) == ("ten_other", True)

    async def test_the_request_id_and_idempotency_key_travel(self) -> None:
        token = request_id_var.set("req_from_the_caller")
        try:
            async with far_side() as (far, side):
                await far.call("POST", "/ok", SCOPE, body={}, idempotency_key="k-1")
                request_id_var.set(None)
                await far.call("POST", "/ok", SCOPE, body={})
        finally:
            request_id_var.reset(token)
        assert side.headers[0]["x-request-id"] == "req_from_the_caller"
        assert side.headers[0]["idempotency-key"] == "k-1"
        assert "x-request-id" not in side.headers[1]
        assert "idempotency-key" not in side.headers[1]


class TestNoCallInsideATransaction:
    async def test_a_call_inside_a_transaction_is_refused_before_it_leaves(
        self, create_db: CreateDb
    ) -> None:
        pool = await create_pool(await create_db("wallet"), application_name="test", min_size=1)
        try:
            async with far_side() as (far, side):
                async with transaction(pool):
                    with pytest.raises(TransactionHeldError, match="call to the far service"):
                        await far.call("GET", "/ok-get", SCOPE)
                # Committed: the same call goes.
                assert (await far.call("GET", "/ok-get", SCOPE)).body == {"ok": True}
        finally:
            await pool.close()
        assert side.hits["/ok-get"] == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("internal_attempts", 0),
        ("internal_attempts", "many"),
        ("internal_timeout", 0),
        ("internal_timeout", -1),
        ("internal_connect_timeout", 0),
        ("internal_backoff", -0.1),
        ("internal_max_connections", 0),
    ],
)
def test_bad_settings_are_refused(name: str, value: object) -> None:
    with pytest.raises(pydantic.ValidationError, match=name):
        settings(**{name: value})


def test_backoff_grows_exponentially_with_full_jitter_up_to_its_cap() -> None:
    policy = CallPolicy.of(settings(internal_backoff=0.1, internal_backoff_max=1.0))
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        # Jittered: spread over the range, not one fixed wait.
        assert max(delays) > ceiling * 0.8
        assert min(delays) < ceiling * 0.2
