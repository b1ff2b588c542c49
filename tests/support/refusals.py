"""What a refusal through the gateway looks like, and the checks that a refused write left
nothing a caller could see: shared by the auth bad-input modules (tests/e2e/test_auth_*_input.py).

Every refusal is the shared error shape (docs/architecture.md) with a 4xx, never a 500.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.accounts import PASSWORD


def error(response: httpx.Response) -> dict[str, Any]:
    """The error of a 4xx answer, once its shape is checked: only `error`, with every field
    and the request id of the answer's own header."""
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    detail: dict[str, Any] = body["error"]
    assert set(detail) >= {"type", "code", "message", "param", "request_id"}, detail
    assert detail["request_id"] == response.headers["x-request-id"]
    return detail


def refused(response: httpx.Response, status: int, code: str, param: str | None = None) -> None:
    """`response` is a refusal with `status` and `code` (and names `param`, when given)."""
    assert response.status_code == status, response.text
    detail = error(response)
    assert detail["code"] == code, detail
    if param is not None:
        assert detail["param"] == param, detail


def email_is_free(client: httpx.Client, email: str) -> bool:
    """Whether `email` can still register; registering it takes it."""
    response = client.post("/auth/register", json={"email": email, "password": PASSWORD})
    return response.status_code == 201


def login_status(client: httpx.Client, email: str, password: str = PASSWORD) -> int:
    return client.post("/auth/login", json={"email": email, "password": password}).status_code
