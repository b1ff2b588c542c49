"""Provider routes: a tenant's ordered providers per currency and mode, and the route each
routed intent was created on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.db import Connection
from shared.rows import row, row_or_none, rows


@dataclass(frozen=True, slots=True)
class RouteRow:
    tenant_id: str
    livemode: bool
    currency: str
    providers: list[str]
    created_at: datetime
    updated_at: datetime


_COLUMNS = "tenant_id, livemode, currency, providers, created_at, updated_at"


async def upsert_route(
    conn: Connection, *, tenant_id: str, livemode: bool, currency: str, providers: list[str]
) -> RouteRow:
    record = await conn.fetchrow(
        "INSERT INTO provider_routes (tenant_id, livemode, currency, providers) "
        "VALUES ($1, $2, $3, $4::text[]) ON CONFLICT (tenant_id, livemode, currency) "
        "DO UPDATE SET providers = EXCLUDED.providers, updated_at = now() "
        f"RETURNING {_COLUMNS}",
        tenant_id,
        livemode,
        currency,
        providers,
    )
    assert record is not None
    return row(RouteRow, record)


async def get_route(
    conn: Connection, *, tenant_id: str, livemode: bool, currency: str
) -> RouteRow | None:
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM provider_routes "
        "WHERE tenant_id = $1 AND livemode = $2 AND currency = $3",
        tenant_id,
        livemode,
        currency,
    )
    return row_or_none(RouteRow, record)


async def list_routes(conn: Connection, *, tenant_id: str, livemode: bool) -> list[RouteRow]:
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM provider_routes WHERE tenant_id = $1 AND livemode = $2 "
        "ORDER BY currency",
        tenant_id,
        livemode,
    )
    return rows(RouteRow, records)


async def delete_route(conn: Connection, *, tenant_id: str, livemode: bool, currency: str) -> bool:
    done = await conn.execute(
        "DELETE FROM provider_routes WHERE tenant_id = $1 AND livemode = $2 AND currency = $3",
        tenant_id,
        livemode,
        currency,
    )
    return done != "DELETE 0"


async def insert_intent_route(conn: Connection, *, intent_id: str, providers: list[str]) -> None:
    await conn.execute(
        "INSERT INTO intent_routes (intent_id, providers) VALUES ($1, $2::text[]) "
        "ON CONFLICT (intent_id) DO NOTHING",
        intent_id,
        providers,
    )


async def intent_route(conn: Connection, intent_id: str) -> tuple[str, ...] | None:
    """The route a routed intent was created on; None for one that named its provider."""
    found: list[str] | None = await conn.fetchval(
        "SELECT providers FROM intent_routes WHERE intent_id = $1", intent_id
    )
    return None if found is None else tuple(found)
