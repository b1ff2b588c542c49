"""Per-request context that logs and error bodies read without being handed it."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("micro_request_id", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()
