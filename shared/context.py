"""Per-request context that logs and error bodies read without being handed it."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("micro_request_id", default=None)
# The Idempotency-Key of the request being executed, so events can say which call made them.
idempotency_key_var: ContextVar[str | None] = ContextVar("micro_idempotency_key", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


def current_idempotency_key() -> str | None:
    return idempotency_key_var.get()
