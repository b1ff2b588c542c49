"""Per-request context that logs and error bodies read without being handed it."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("micro_request_id", default=None)
# The Idempotency-Key of the request being executed, so events can say which call made them.
idempotency_key_var: ContextVar[str | None] = ContextVar("micro_idempotency_key", default=None)
# True when this run of a keyed request took over the claim of an earlier run that died:
# that run may have committed its change before it could store its answer.
idempotency_rerun_var: ContextVar[bool] = ContextVar("micro_idempotency_rerun", default=False)


def current_request_id() -> str | None:
    return request_id_var.get()


def current_idempotency_key() -> str | None:
    return idempotency_key_var.get()


def is_idempotent_rerun() -> bool:
    """Whether the request running now is a keyed retry of one whose process died mid-way
    (shared/idempotency.py): a service whose change may already be committed then answers
    with what the first run made instead of refusing to make it twice."""
    return idempotency_rerun_var.get()
