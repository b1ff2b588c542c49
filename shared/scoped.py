"""Tenant scope: the tenant and mode a read or a call acts in (`Scope`), and reads of
tenant-scoped tables: every service's main table is keyed by id and scoped by
(tenant_id, livemode), and lists walk it newest first by id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams, keyset


@dataclass(frozen=True, slots=True)
class Scope:
    """The tenant and mode a read or a call acts in."""

    tenant_id: str
    livemode: bool


@dataclass(frozen=True, slots=True)
class ScopedTable:
    name: str
    # A fixed select list, written by the repository that owns the table.
    columns: str

    async def page(
        self,
        conn: Connection,
        *,
        tenant_id: str | None,
        livemode: bool,
        params: ListParams,
        filters: Sequence[tuple[str, Any]] = (),
    ) -> Sequence[asyncpg.Record]:
        """One page in walking order; `filters` are (column, value) equality conditions.

        `tenant_id` None reads across tenants (a platform admin's view); the condition is
        left out rather than made optional in SQL, so a tenant's list keeps its index plan.
        """
        op, order = keyset(params)
        args: list[Any] = [livemode, params.cursor, params.fetch]
        extra = ""
        for column, value in [
            *([("tenant_id", tenant_id)] if tenant_id is not None else []),
            *filters,
        ]:
            args.append(value)
            extra += f" AND {column} = ${len(args)}"
        return await conn.fetch(
            f"SELECT {self.columns} FROM {self.name} "
            f"WHERE livemode = $1 AND ($2::text IS NULL OR id {op} $2)"
            f"{extra} ORDER BY id {order} LIMIT $3",
            *args,
        )

    async def get(
        self, conn: Connection, *, tenant_id: str, livemode: bool, row_id: str
    ) -> asyncpg.Record | None:
        return await conn.fetchrow(
            f"SELECT {self.columns} FROM {self.name} "
            "WHERE id = $1 AND tenant_id = $2 AND livemode = $3",
            row_id,
            tenant_id,
            livemode,
        )
