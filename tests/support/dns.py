"""A DNS resolver the tests control: the edge we don't own (the network's DNS), answered
from a table the test edits, so a name can "rebind" between save and delivery."""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult


class TableResolver(AbstractResolver):
    """Answers from `table` (name -> addresses); other names do not resolve."""

    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table: dict[str, list[str]] = dict(table or {})
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        name = host.rstrip(".").lower()
        self.lookups.append(name)
        addresses = self.table.get(name)
        if not addresses:
            raise OSError(socket.EAI_NONAME, f"{host} does not resolve")
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None
