"""GET /payments/ledger_outbox: what payments still owes the ledger, for platform admins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.asgi import identity_headers

URL = "/payments/ledger_outbox"
NOW = datetime.now(UTC)


def platform_admin() -> dict[str, str]:
    return identity_headers(
        tenant_id="ten_platform", principal="usr_admin", principal_type="user",
        role="PLATFORM_ADMIN",
    )  # fmt: skip


async def _row(conn: asyncpg.Connection, reference: str, state: str) -> None:
    await conn.execute(
        "INSERT INTO ledger_outbox (id, tenant_id, livemode, reference_id, body, currency, "
        "next_attempt, created_at, posted_at, failed_at) VALUES ($1, 'ten_a', false, $1, "
        "'{}'::jsonb, 'usd', now() + interval '1 hour', now() - interval '90 seconds', $2, $3)",
        reference,
        NOW if state == "posted" else None,
        NOW if state == "failed" else None,
    )


async def test_it_counts_pending_and_failed_postings(client: httpx.AsyncClient, dsn: str) -> None:
    empty = await client.get(URL, headers=platform_admin())
    assert empty.status_code == 200, empty.text
    assert empty.json() == {
        "object": "ledger_outbox.summary", "pending": 0, "failed": 0,
        "oldest_pending_seconds": None,
    }  # fmt: skip
    conn = await asyncpg.connect(dsn)
    try:
        for reference, state in (("p1", "pending"), ("p2", "pending"), ("f1", "failed"),
                                 ("d1", "posted")):  # fmt: skip
            await _row(conn, reference, state)
    finally:
        await conn.close()
    body = (await client.get(URL, headers=platform_admin())).json()
    assert (body["pending"], body["failed"]) == (2, 1)
    assert 89 <= body["oldest_pending_seconds"] < 600


# The identity's fields, minted in the test: a token minted at import would have expired
# by the time a long suite reaches it.
@pytest.mark.parametrize(
    "who",
    [
        pytest.param({}, id="api-key"),
        pytest.param(
            {"principal": "usr_x", "principal_type": "user", "role": "TENANT_ADMIN"},
            id="tenant-admin",
        ),
    ],
)
async def test_only_a_platform_admin_may(client: httpx.AsyncClient, who: dict[str, Any]) -> None:
    headers = identity_headers(**who)
    response = await client.get(URL, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "role_required"
