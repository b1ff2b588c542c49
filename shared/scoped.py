"""Reads of tenant-scoped tables: every service's main table is keyed by id and scoped by
(tenant_id, livemode), and lists walk it newest first by id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.db import Connection
from shared.pagination import ListParams, keyset


@dataclass(frozen=True, slots=True)
class ScopedTable:
    name: str
    # A fixed select list, written by the repository that owns the table.
    columns: str

    async def page(
        self,
        conn: Connection,
        *,
        tenant_id: str,
        livemode: bool,
        params: ListParams,
        filters: Sequence[tuple[str, Any]] = (),
    ) -> Sequence[asyncpg.Record]:
        """One page in walking order; `filters` are (column, value) equality conditions."""
        op, order = keyset(params)
        args: list[Any] = [tenant_id, livemode, params.cursor, params.fetch]
        extra = ""
        for column, value in filters:
            args.append(value)
            extra += f" AND {column} = ${len(args)}"
        return await conn.fetch(
            f"SELECT {self.columns} FROM {self.name} "
            f"WHERE tenant_id = $1 AND livemode = $2 AND ($3::text IS NULL OR id {op} $3)"
            f"{extra} ORDER BY id {order} LIMIT $4",
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
