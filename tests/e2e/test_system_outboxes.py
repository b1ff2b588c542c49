"""`GET /system/outboxes`: each service's outbox backlog, for platform admins only."""

from __future__ import annotations

import httpx
import pytest

from shared.settings import SERVICES
from tests.e2e.accounts import Account, create_key, key_headers, register, signup_user

pytestmark = pytest.mark.e2e


def test_a_platform_admin_sees_every_services_outbox(gw: httpx.Client, admin: Account) -> None:
    answer = gw.get("/system/outboxes", headers=admin.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["object"] == "outboxes"
    assert sorted(body["services"]) == sorted(SERVICES)
    for service, backlog in body["services"].items():
        assert backlog is not None, service
        assert backlog["pending"] >= 0
        assert backlog["oldest_seconds"] is None or backlog["oldest_seconds"] >= 0


def test_nobody_else_may_read_it(gw: httpx.Client) -> None:
    owner = register(gw)
    user = signup_user(gw, owner)
    key = create_key(gw, owner)["secret"]
    for headers, status, code in (
        ({}, 401, "missing_credentials"),
        (owner.headers, 403, "role_required"),
        (user.headers, 403, "role_required"),
        (key_headers(key), 403, "session_required"),
        ({"Authorization": "Bearer forged.token.here"}, 401, None),
    ):
        answer = gw.get("/system/outboxes", headers=headers)
        assert answer.status_code == status, (headers, answer.text)
        if code is not None:
            assert answer.json()["error"]["code"] == code
