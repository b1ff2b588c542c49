"""What the ledger opens once per process (built in `services.ledger.app`), reached from a
request with `ledger_state(request)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from services.ledger.settings import LedgerSettings
from shared.db import Pool
from shared.state import AppState, service_state

if TYPE_CHECKING:
    # Only the type: the coalescer posts through the service modules that take this state.
    from services.ledger.service.coalescer import Coalescer


@dataclass(frozen=True, slots=True)
class LedgerState:
    settings: LedgerSettings
    pool: Pool
    coalescer: Coalescer


def ledger_state(conn: HTTPConnection | AppState) -> LedgerState:
    return service_state(conn, LedgerState)
