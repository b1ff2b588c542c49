"""Proxied paths skip Starlette's router (gateway.handler.ProxiedFirst): that is only the same
gateway if no proxied prefix takes one of the gateway's own paths, and other methods still
get the catch-all's 405."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from gateway.handler import PROXIED_METHODS
from gateway.routing import resolve
from shared.handlers import CATCH_ALL
from tests.support.relay import gateway_app

# Built, never started: nothing connects to this Redis.
APP = gateway_app("redis://127.0.0.1:9")


def sample_paths(routes: list[BaseRoute], prefix: str = "") -> list[str]:
    """A concrete path each route takes (its parameters filled in)."""
    found: list[str] = []
    for route in routes:
        if isinstance(route, Route | WebSocketRoute):
            if route.path == CATCH_ALL:
                continue
            found.append(prefix + re.sub(r"\{[^}]+\}", "x", route.path))
        elif isinstance(route, Mount):
            mounted = prefix + route.path
            found += [mounted, mounted + "/x"]
            found += sample_paths(list(route.routes), mounted)
    return found


def test_no_proxied_prefix_takes_one_of_the_gateway_s_own_paths() -> None:
    own = sample_paths(list(APP.router.routes))
    assert {"/docs", "/cli/listen", "/dashboard", "/api/health", "/health"} <= set(own)
    assert [path for path in own if resolve(path) is not None] == []


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND"])
async def test_another_method_on_a_proxied_path_is_the_gateway_s_405(method: str) -> None:
    assert method not in PROXIED_METHODS
    transport = httpx.ASGITransport(app=APP)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        answer = await client.request(method, "/ledger/accounts")
    assert answer.status_code == 405
    assert answer.json()["error"]["type"] == "invalid_request_error"
