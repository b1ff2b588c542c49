"""Open `/cli/listen` sockets by the credential and tenant they act for.

A socket outlives the request that authorized it, so the per-request checks never see it
again. Auth announces over Redis (`shared.credentials`) when a key is revoked, a session
ends or a tenant changes; `Credentials.listen_for_invalidations` hands that news here, and
every socket it concerns is ended with the reason, within the subscription's read interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from shared.credentials import TenantState

# What each announced reason means to the developer whose `micro listen` it stops.
_MEANINGS = {
    "api_key_revoked": "this API key was revoked",
    "api_key_rolled": "this API key was rolled and no longer works",
    "session_ended": "this session was signed out",
    "refresh_token_reused": "this session was revoked (a refresh token was used twice)",
    "user_deactivated": "this user was deactivated",
    "tenant_disabled": "this tenant was disabled",
    "live_mode_disabled": "live mode is not enabled for this tenant",
}


def describe(reason: str) -> str:
    """`code: meaning`, short enough for a WebSocket close frame."""
    return f"{reason}: {_MEANINGS.get(reason, 'this credential was revoked')}"


@dataclass(eq=False, slots=True)
class Watch:
    """One open socket: `ended` is set, once, with the reason it must close."""

    tenant_id: str
    livemode: bool
    credential: str
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""

    def end(self, reason: str) -> None:
        if not self.ended.is_set():
            self.reason = reason
            self.ended.set()

    def judge(self, state: TenantState) -> None:
        if state.status != "active":
            self.end("tenant_disabled")
        elif self.livemode and state.live_mode != "on":
            self.end("live_mode_disabled")


class Watchers:
    def __init__(self) -> None:
        self._by_credential: dict[str, set[Watch]] = {}
        self._by_tenant: dict[str, set[Watch]] = {}

    @contextmanager
    def watch(self, *, tenant_id: str, livemode: bool, credential: str) -> Iterator[Watch]:
        watch = Watch(tenant_id, livemode, credential)
        self._by_credential.setdefault(credential, set()).add(watch)
        self._by_tenant.setdefault(tenant_id, set()).add(watch)
        try:
            yield watch
        finally:
            _discard(self._by_credential, credential, watch)
            _discard(self._by_tenant, tenant_id, watch)

    def revoked(self, credential: str, reason: str) -> None:
        for watch in list(self._by_credential.get(credential, ())):
            watch.end(reason)

    def watching(self, tenant_id: str) -> bool:
        return bool(self._by_tenant.get(tenant_id))

    def tenant_changed(self, state: TenantState) -> None:
        for watch in list(self._by_tenant.get(state.id, ())):
            watch.judge(state)


def _discard(index: dict[str, set[Watch]], key: str, watch: Watch) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(watch)
        if not members:
            del index[key]
