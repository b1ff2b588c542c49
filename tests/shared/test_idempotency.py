"""Idempotency-Key on every mutating endpoint, through a real service."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.ledger.settings import LedgerSettings
from shared.app import create_service_app
from shared.idempotency import _hash, purge
from shared.ids import new_id
from shared.responses import json_response
from tests.support.asgi import ServiceClient, identity_headers, serve_in_process
from tests.support.secrets import TEST_IDENTITY_KEY
from tests.support.servers import CreateDb


def headers(key: str | None, tenant: str = "ten_idem", livemode: bool = False) -> dict[str, str]:
    base = identity_headers(tenant_id=tenant, livemode=livemode)
    return {**base, "Idempotency-Key": key} if key else base


ACCOUNT = {"name": "cash", "type": "asset", "currency": "usd"}


async def test_the_same_request_twice_runs_once(service_client: ServiceClient) -> None:
    async with service_client("ledger") as client:
        first = await client.post("/ledger/accounts", json=ACCOUNT, headers=headers("k1"))
        again = await client.post("/ledger/accounts", json=ACCOUNT, headers=headers("k1"))
        listed = await client.get("/ledger/accounts", headers=headers(None))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(listed.json()["data"]) == 1


async def test_the_same_key_with_other_parameters_is_an_idempotency_error(
    service_client: ServiceClient,
) -> None:
    async with service_client("ledger") as client:
        await client.post("/ledger/accounts", json=ACCOUNT, headers=headers("k2"))
        other = await client.post(
            "/ledger/accounts", json={**ACCOUNT, "name": "bank"}, headers=headers("k2")
        )
    assert other.status_code == 400
    error = other.json()["error"]
    assert (error["type"], error["code"]) == ("idempotency_error", "idempotency_key_reused")


async def test_the_same_json_in_another_key_order_is_the_same_request(
    service_client: ServiceClient,
) -> None:
    # Stripe compares parameters, not bytes: a client that rebuilds its dict on retry must
    # get the first answer back, not an idempotency error.
    as_json = {"Content-Type": "application/json"}
    first_body = (
        '{"name": "cash", "type": "asset", "currency": "usd", "metadata": {"a": "1", "b": "2"}}'
    )
    again_body = (
        '{"metadata": {"b": "2", "a": "1"},  "currency": "usd", "type": "asset", "name": "cash"}'
    )
    async with service_client("ledger") as client:
        first = await client.post(
            "/ledger/accounts", content=first_body, headers={**as_json, **headers("order")}
        )
        again = await client.post(
            "/ledger/accounts", content=again_body, headers={**as_json, **headers("order")}
        )
        listed = await client.get("/ledger/accounts", headers=headers(None))
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert len(listed.json()["data"]) == 1


async def test_the_same_form_in_another_pair_order_is_the_same_request(
    service_client: ServiceClient,
) -> None:
    as_form = {"Content-Type": "application/x-www-form-urlencoded"}
    async with service_client("ledger") as client:
        first = await client.post(
            "/ledger/accounts",
            content="name=cash&type=asset&currency=usd&metadata[a]=1",
            headers={**as_form, **headers("form-order")},
        )
        again = await client.post(
            "/ledger/accounts",
            content="metadata[a]=1&currency=usd&name=cash&type=asset",
            headers={**as_form, **headers("form-order")},
        )
        other = await client.post(
            "/ledger/accounts",
            content="metadata[a]=2&currency=usd&name=cash&type=asset",
            headers={**as_form, **headers("form-order")},
        )
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 400
    assert other.json()["error"]["code"] == "idempotency_key_reused"


async def test_the_same_key_with_a_nested_parameter_changed_is_an_idempotency_error(
    service_client: ServiceClient,
) -> None:
    async with service_client("ledger") as client:
        first = await client.post(
            "/ledger/accounts",
            json={**ACCOUNT, "metadata": {"order": "7"}},
            headers=headers("nested"),
        )
        other = await client.post(
            "/ledger/accounts",
            json={"metadata": {"order": "8"}, **ACCOUNT},
            headers=headers("nested"),
        )
    assert first.status_code == 201
    assert other.status_code == 400
    error = other.json()["error"]
    assert (error["type"], error["code"]) == ("idempotency_error", "idempotency_key_reused")


async def test_validation_failures_are_not_stored(service_client: ServiceClient) -> None:
    async with service_client("ledger") as client:
        bad = await client.post(
            "/ledger/accounts", json={**ACCOUNT, "currency": "xyz"}, headers=headers("k3")
        )
        good = await client.post("/ledger/accounts", json=ACCOUNT, headers=headers("k3"))
    assert bad.status_code == 400
    assert good.status_code == 201
    assert "idempotent-replayed" not in good.headers


async def test_errors_after_execution_began_are_stored(service_client: ServiceClient) -> None:
    async with service_client("ledger") as client:
        missing = "/ledger/accounts/acc_nothing_here"
        first = await client.post(missing, json={"name": "x"}, headers=headers("k4"))
        again = await client.post(missing, json={"name": "x"}, headers=headers("k4"))
    assert first.status_code == again.status_code == 404
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"


async def test_keys_are_scoped_to_tenant_and_mode(service_client: ServiceClient) -> None:
    async with service_client("ledger") as client:
        statuses = [
            (await client.post("/ledger/accounts", json=ACCOUNT, headers=h)).headers.get(
                "idempotent-replayed"
            )
            for h in (
                headers("shared-key", tenant="ten_a"),
                headers("shared-key", tenant="ten_b"),
                headers("shared-key", tenant="ten_a", livemode=True),
            )
        ]
    assert statuses == [None, None, None]


async def test_users_of_one_tenant_have_their_own_keys_and_api_keys_share_the_tenants(
    service_client: ServiceClient,
) -> None:
    def as_user(user: str) -> dict[str, str]:
        who = identity_headers(tenant_id="ten_u", principal=user, principal_type="user")
        return {**who, "Idempotency-Key": "k1"}

    def as_key(key_id: str) -> dict[str, str]:
        return {**identity_headers(tenant_id="ten_u", principal=key_id), "Idempotency-Key": "k1"}

    async with service_client("ledger") as client:
        alice = await client.post("/ledger/accounts", json=ACCOUNT, headers=as_user("usr_a"))
        bob = await client.post(
            "/ledger/accounts", json={**ACCOUNT, "name": "other"}, headers=as_user("usr_b")
        )
        again = await client.post("/ledger/accounts", json=ACCOUNT, headers=as_user("usr_a"))
        first_key = await client.post("/ledger/accounts", json=ACCOUNT, headers=as_key("key_1"))
        second_key = await client.post("/ledger/accounts", json=ACCOUNT, headers=as_key("key_2"))
    assert alice.status_code == bob.status_code == 201
    assert alice.json()["id"] != bob.json()["id"]
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["id"] == alice.json()["id"]
    assert second_key.headers.get("idempotent-replayed") == "true"
    assert second_key.json()["id"] == first_key.json()["id"]


async def test_without_a_key_nothing_is_deduplicated(service_client: ServiceClient) -> None:
    async with service_client("ledger") as client:
        for _ in range(2):
            await client.post("/ledger/accounts", json=ACCOUNT, headers=headers(None))
        listed = await client.get("/ledger/accounts", headers=headers(None))
    assert len(listed.json()["data"]) == 2


async def test_an_overlong_key_is_refused(service_client: ServiceClient) -> None:
    async with service_client("ledger") as client:
        response = await client.post("/ledger/accounts", json=ACCOUNT, headers=headers("k" * 256))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "Idempotency-Key"


@contextlib.asynccontextmanager
async def slow_service(
    redis_url: str, database_url: str, *, seconds: float, lease: float = 10.0
) -> AsyncIterator[httpx.AsyncClient]:
    """A service whose one endpoint takes `seconds`, and counts how often it ran."""
    runs: list[str] = []

    async def slow(request: Request) -> JSONResponse:
        await asyncio.sleep(seconds)
        runs.append(new_id("run"))
        return json_response({"runs": len(runs)}, status=201)

    settings = LedgerSettings(
        redis_url=redis_url,
        database_url=database_url,
        identity_keys=[TEST_IDENTITY_KEY],
        idempotency_lease_seconds=lease,
    )
    app = create_service_app(settings, [Route("/slow", slow, methods=["POST"])], title="slow")
    async with serve_in_process(app) as client:
        yield client


@pytest.fixture
async def slow_client(redis_url: str, create_db: CreateDb) -> AsyncIterator[httpx.AsyncClient]:
    async with slow_service(redis_url, await create_db("ledger"), seconds=0.3) as client:
        yield client


async def test_twenty_concurrent_identical_requests_run_once(
    slow_client: httpx.AsyncClient,
) -> None:
    responses = await asyncio.gather(
        *(slow_client.post("/slow", json={"a": 1}, headers=headers("burst")) for _ in range(20))
    )
    # The endpoint ran once: one fresh answer; the others arrived while it ran (409) or, on
    # a loaded machine, after it had finished (its stored answer, replayed).
    created = [r for r in responses if r.status_code == 201]
    replayed = [r for r in created if r.headers.get("idempotent-replayed") == "true"]
    assert len(created) - len(replayed) == 1
    assert {r.json()["runs"] for r in created} == {1}
    conflicts = [(r.status_code, r.json()["error"]["code"]) for r in responses if r not in created]
    assert conflicts == [(409, "idempotency_key_in_use")] * (20 - len(created))
    replay = await slow_client.post("/slow", json={"a": 1}, headers=headers("burst"))
    assert replay.json() == {"runs": 1}
    assert replay.headers["idempotent-replayed"] == "true"


async def test_a_stale_claim_can_be_taken_over(
    service_client: ServiceClient, create_db: CreateDb
) -> None:
    dsn = await create_db("ledger")
    body = json.dumps(ACCOUNT).encode()
    scope = {
        "method": "POST",
        "path": "/ledger/accounts",
        "headers": [(b"content-type", b"application/json")],
    }
    request_hash = _hash(scope, body)
    conn = await asyncpg.connect(dsn)
    try:
        # The same request's earlier run, in a process that died holding the key (its
        # claim not renewed for 30 s), and one claimed a second ago.
        for seconds_ago, key in ((30, "orphan"), (1, "busy")):
            await conn.execute(
                "INSERT INTO idempotency_keys (tenant_id, livemode, key, request_hash, "
                "locked_at, locked_by) VALUES ('ten_idem', false, $1, $2, "
                "now() - $3::interval, 'gone:1:dead')",
                key,
                request_hash,
                timedelta(seconds=seconds_ago),
            )
    finally:
        await conn.close()
    async with service_client("ledger", database_url=dsn) as client:
        as_json = {"Content-Type": "application/json"}
        orphan = await client.post(
            "/ledger/accounts", content=body, headers={**as_json, **headers("orphan")}
        )
        busy = await client.post(
            "/ledger/accounts", content=body, headers={**as_json, **headers("busy")}
        )
    assert orphan.status_code == 201  # taken over: not renewed for longer than the lease
    assert busy.status_code == 409  # within its lease: still presumed running


async def test_a_request_that_outlasts_the_lease_keeps_its_key(
    redis_url: str, create_db: CreateDb
) -> None:
    """The running process renews its claim: a retry long after the lease (1 s here) is
    still told the first is running, and the request runs once."""
    dsn = await create_db("ledger")
    async with slow_service(redis_url, dsn, seconds=3.0, lease=1.0) as client:
        first = asyncio.create_task(client.post("/slow", json={"a": 1}, headers=headers("long")))
        await asyncio.sleep(2.0)
        retry = await client.post("/slow", json={"a": 1}, headers=headers("long"))
        assert (retry.status_code, retry.json()["error"]["code"]) == (
            409,
            "idempotency_key_in_use",
        )
        assert (await first).json() == {"runs": 1}
        replay = await client.post("/slow", json={"a": 1}, headers=headers("long"))
    assert (replay.json(), replay.headers["idempotent-replayed"]) == ({"runs": 1}, "true")


async def test_results_are_purged_after_their_time(
    service_client: ServiceClient, create_db: CreateDb
) -> None:
    dsn = await create_db("ledger")
    async with service_client("ledger", database_url=dsn) as client:
        await client.post("/ledger/accounts", json=ACCOUNT, headers=headers("old"))
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    assert pool is not None
    try:
        assert await purge(pool) == 0  # younger than a day: kept
        await pool.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
        assert await purge(pool, older_than=timedelta(hours=24)) == 1
    finally:
        await pool.close()


async def test_a_response_that_shows_a_secret_is_never_stored(
    redis_url: str, create_db: CreateDb
) -> None:
    async def reveal(request: Request) -> JSONResponse:
        return json_response(
            {"secret": new_id("sk")}, status=201, headers={"Cache-Control": "no-store"}
        )

    dsn = await create_db("ledger")
    settings = LedgerSettings(
        redis_url=redis_url, database_url=dsn, identity_keys=[TEST_IDENTITY_KEY]
    )
    app = create_service_app(settings, [Route("/reveal", reveal, methods=["POST"])], title="t")
    async with serve_in_process(app) as client:
        first = await client.post("/reveal", json={}, headers=headers("secret-key"))
        again = await client.post("/reveal", json={}, headers=headers("secret-key"))
    assert first.json() != again.json()  # ran again: nothing was kept to replay
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM idempotency_keys") == 0
    finally:
        await conn.close()
