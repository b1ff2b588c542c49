"""The dashboard's way to Micro: the public API, called in this process.

Every page is a client of the same API as `curl` or a Stripe SDK: each call goes through
the gateway's own ASGI app (routing table, access policy, session revocation, rate limits,
live-mode switch, the services' own checks) with the user's access token, the page's mode
and the browser's address, but without a network hop. So the dashboard has no rule of its
own to keep in step with the API's: what a user may not do with `curl`, the dashboard
cannot do for them.

A token about to lapse is refreshed first (rotating the refresh token, as any client
does); a call auth refuses (the session was revoked or has expired) ends the dashboard
session (`SignedOut`), and the page sends the browser to sign in again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.dashboard.session import DashboardSession, Sessions, expires_at
from gateway.handler import PAGE_CHARGE_KEY, PageCharge

# The host name sub-requests carry; only this process ever sees it.
_BASE = "http://gateway.dashboard"


class SignedOut(Exception):
    """The API session behind the dashboard session is over."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def error(self) -> dict[str, Any]:
        """The shared error object (`{"error": {...}}`) of a refusal; empty if none."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            found: dict[str, Any] = self.body["error"]
            return found
        return {}

    @property
    def message(self) -> str:
        return str(self.error.get("message") or f"The API answered {self.status}.")


class ApiFailure(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.message)
        self.answer = answer


def _with_state(app: ASGIApp, state: dict[str, Any]) -> ASGIApp:
    """The app, given the lifespan state the server gives every request (httpx's transport
    starts no lifespan of its own), and one page's share of the session's rate limit: the
    calls of one page count as one request (a person asked for one page)."""
    charge = PageCharge()

    async def call(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, "state": dict(state), PAGE_CHARGE_KEY: charge}, receive, send)

    return call


def client_for(request: Request, client_ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(
        app=_with_state(request.app, request.scope.get("state", {})), client=(client_ip, 0)
    )
    return httpx.AsyncClient(transport=transport, base_url=_BASE, timeout=30)


class Api:
    """One page's calls, as the signed-in user (or anonymously, for sign-in)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        sessions: Sessions | None = None,
        cookie: str | None = None,
        session: DashboardSession | None = None,
        request_id: str | None = None,
    ) -> None:
        self.http = http
        self.sessions = sessions
        self.cookie = cookie
        self.session = session
        self.request_id = request_id

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        anonymous: bool = False,
    ) -> Answer:
        """One API call. A form that changes something passes its own `idempotency_key`
        (made when the form was drawn), so a form sent twice does it once."""
        headers: dict[str, str] = {}
        if self.request_id:
            headers["X-Request-Id"] = self.request_id
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if not anonymous:
            session = await self._fresh()
            headers["Authorization"] = f"Bearer {session.access_token}"
            if session.mode == "live":
                headers["Micro-Mode"] = "live"
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        response = await self.http.request(method, path, json=json, params=clean, headers=headers)
        answer = _answer(response)
        if answer.status == 401 and not anonymous:
            await self.end()
            raise SignedOut
        return answer

    async def get(self, path: str, **params: Any) -> Any:
        """The body of a GET; ApiFailure if refused."""
        return self._ok(await self.call("GET", path, params=params))

    async def post(self, path: str, body: Any = None, *, idempotency_key: str | None = None) -> Any:
        """The body of a POST (JSON); ApiFailure if refused."""
        json = body if body is not None else {}
        return self._ok(await self.call("POST", path, json=json, idempotency_key=idempotency_key))

    async def delete(self, path: str) -> Any:
        return self._ok(await self.call("DELETE", path))

    @staticmethod
    def _ok(answer: Answer) -> Any:
        if not answer.ok:
            raise ApiFailure(answer)
        return answer.body

    async def _fresh(self) -> DashboardSession:
        """The session, its access token refreshed first when it is about to lapse."""
        session = self.session
        if session is None:
            raise SignedOut
        if session.access_expires > time.time():
            return session
        response = await self.http.post(
            "/auth/refresh", json={"refresh_token": session.refresh_token}
        )
        answer = _answer(response)
        if not answer.ok:
            await self.end()
            raise SignedOut
        session.access_token = answer.body["access_token"]
        session.refresh_token = answer.body["refresh_token"]
        session.access_expires = expires_at(int(answer.body["expires_in"]))
        await self.store()
        return session

    async def store(self) -> None:
        if self.sessions is not None and self.cookie and self.session is not None:
            await self.sessions.save(self.cookie, self.session)

    async def end(self) -> None:
        """Forget the dashboard session (the API one is already over, or being ended)."""
        if self.sessions is not None and self.cookie:
            await self.sessions.delete(self.cookie)
        self.session = None


def _answer(response: httpx.Response) -> Answer:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return Answer(response.status_code, body, response.headers)
