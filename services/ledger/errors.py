"""Ledger errors; all are subclasses of the shared tree in `shared.errors`."""

from __future__ import annotations

from shared.errors import NotFoundError


class AccountNotFoundError(NotFoundError):
    def __init__(self, account_id: str) -> None:
        super().__init__(f"No such account: {account_id!r}.", param="id")
