"""Request and response models of the auth API."""

from __future__ import annotations

from typing import Literal

import asyncpg
from pydantic import BaseModel

from shared.identity import Role
from shared.timeutil import unix

TenantStatus = Literal["active", "disabled"]


class User(BaseModel):
    id: str
    object: Literal["user"] = "user"
    email: str
    tenant_id: str
    role: Role
    is_active: bool
    created: int

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> User:
        return cls(
            id=row["id"],
            email=row["email"],
            tenant_id=row["tenant_id"],
            role=row["role"],
            is_active=row["is_active"],
            created=unix(row["created_at"]),
        )


class Tenant(BaseModel):
    id: str
    object: Literal["tenant"] = "tenant"
    name: str
    slug: str
    webhook_url: str
    status: TenantStatus
    created: int

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Tenant:
        return cls(
            id=row["id"],
            name=row["name"],
            slug=row["slug"],
            webhook_url=row["webhook_url"],
            status=row["status"],
            created=unix(row["created_at"]),
        )
