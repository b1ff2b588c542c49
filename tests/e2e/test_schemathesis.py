"""schemathesis against the whole stack, through the gateway, with every check.

Four identities from four tenants, so its authorization checks see isolation: two API keys
(the API routes) and two signed-in tenant admins (the session-only routes under /auth and
/tenants; they sign in again through /auth/login when a run signs them out). All four are
peers: none may read another's objects (`object_level_authorization`). The OpenAPI links in
the document drive the stateful run, with schemathesis's own inference beside them.

What is switched off or narrowed is listed, with reasons, in schemathesis_exclusions.py only.

It runs schemathesis's engine in this process, as `schemathesis run` does: every phase
(examples, coverage, fuzzing, stateful), time-boxed by MICRO_SCHEMATHESIS_SECONDS (default 120:
about three minutes with the stack's start and the last phase's finish). While developing,
narrow it to some paths with MICRO_SCHEMATHESIS_PATHS (a regular expression) and a few seconds.

(schemathesis's `parametrize()` pytest integration cannot be used with pytest 9.2: it sets
`Node._nodeid`, which pytest no longer has.)
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.engine import events, from_schema
from schemathesis.engine.recorder import ScenarioRecorder
from schemathesis.schemas import BaseSchema

from gateway.routing import canonical
from shared import v1
from tests.e2e import schemathesis_exclusions as exclusions
from tests.e2e.accounts import (
    PASSWORD,
    Account,
    create_key,
    platform_admin,
    raise_rate_limit,
    register,
)
from tests.e2e.stack import RunningStack

pytestmark = pytest.mark.e2e

SECONDS = int(os.environ.get("MICRO_SCHEMATHESIS_SECONDS", "120"))
PATHS = os.environ.get("MICRO_SCHEMATHESIS_PATHS")
# The most a tenant may be given (services/auth/schemas.py RateLimit), set by the platform
# admin: the run must test the API, not its rate limiter.
TENANT_RATE_LIMIT = 1_000_000

KEY_PEERS = ("tenant_a", "tenant_b")
SESSION_PEERS = ("tenant_c_admin", "tenant_d_admin")


def _key_identity(name: str, secret: str) -> dict[str, Any]:
    return {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {secret}"}]}


def _session_identity(name: str, owner: Account) -> dict[str, Any]:
    return {
        "name": name,
        "loginEndpointAuth": {
            "endpoint": "/auth/login",
            "verb": "POST",
            "contentType": "application/json",
            "payloadUserPwd": {
                "username": owner.email,
                "usernameField": "email",
                "password": PASSWORD,
                "passwordField": "password",
            },
            "token": {
                "extractFrom": "body",
                "extractSelector": "/access_token",
                "sendIn": "header",
                "sendName": "Authorization",
                "sendTemplate": "Bearer {token}",
            },
        },
    }


def identities(stack: RunningStack) -> list[dict[str, Any]]:
    """A Web Fuzzing Commons auth document's entries, in the order schemathesis tries them:
    the keys first (most operations take one), then the sessions."""
    entries = []
    with stack.client() as gw:
        admin = platform_admin(gw)
        for name in KEY_PEERS:
            owner = register(gw)
            raise_rate_limit(gw, admin, owner.tenant_id, TENANT_RATE_LIMIT)
            entries.append(_key_identity(name, create_key(gw, owner)["secret"]))
        for name in SESSION_PEERS:
            entries.append(_session_identity(name, register(gw)))
    return entries


def run_config(stack: RunningStack, auth_file: Path) -> schemathesis.Config:
    checks: dict[str, Any] = {
        name: {"enabled": name not in exclusions.CHECKS_OFF} for name in exclusions.ALL_CHECKS
    }
    checks["positive_data_acceptance"]["expected-statuses"] = exclusions.POSITIVE_STATUSES
    return schemathesis.Config.from_dict(
        {
            "base-url": stack.gateway,
            "checks": checks,
            "generation": {name: value for name, (value, _) in exclusions.GENERATION.items()},
            "max-time": SECONDS,
            # Two cores for the stack and the run together.
            "workers": 1,
            "auth": {"wfc": {"path": str(auth_file), "peers": [*KEY_PEERS, *SESSION_PEERS]}},
            "request-timeout": 30,
            # Nothing carried between runs: each run starts from the document alone, and
            # nothing is written into the working tree.
            "cache": {"enabled": False},
            "operations": [*exclusions.operation_overrides(), *_narrowed()],
        }
    )


@schemathesis.hook("before_call")
def as_a_client_sends_it(context: schemathesis.HookContext, case: Any, kwargs: Any) -> None:
    """exclusions.REQUEST_ADJUSTMENTS, each with its reason there."""
    headers = case.headers or {}
    for name, value in list(headers.items()):
        # Only a key the document allows is made fresh: a negative case's invalid key must
        # reach the gateway as drawn, to be refused.
        if name.lower() == "idempotency-key" and isinstance(value, str) and 1 <= len(value) <= 255:
            headers[name] = f"st-{uuid.uuid4()}"
    body = case.body
    if isinstance(body, dict) and "form-urlencoded" in (case.media_type or ""):
        # schemathesis writes an object's keys (metadata's) into a form as top-level fields,
        # which no client sends (Stripe's send `metadata[key]`, which the document cannot
        # say): such a field is left out, and the rest of the case stays as drawn.
        body = {
            key: value
            for key, value in body.items()
            if value is not None and not isinstance(value, dict)
        }
    elif "json" in (case.media_type or ""):
        body = _integral_floats_as_ints(body)
    # Assigned only when it changed: assigning marks the body for schemathesis to judge
    # again, and a request sent with no body (every field optional) is then judged as a
    # missing object, so a positive case was counted as a negative one that got a 2xx.
    if body != case.body:
        case.body = body
    query = case.query or {}
    if "starting_after" in query and "ending_before" in query:
        del query["ending_before"]


def _integral_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_ints(item) for item in value]
    return value


def _narrowed() -> list[dict[str, Any]]:
    """While developing: every operation outside MICRO_SCHEMATHESIS_PATHS switched off."""
    return [{"exclude-path-regex": PATHS, "enabled": False}] if PATHS else []


@pytest.fixture(scope="session")
def api_schema(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> BaseSchema:
    auth_file = tmp_path_factory.mktemp("schemathesis") / "auth.json"
    auth_file.write_text(json.dumps({"auth": identities(stack)}))
    return schemathesis.openapi.from_url(
        f"{stack.gateway}/openapi.json", config=run_config(stack, auth_file)
    )


def test_the_api_conforms_to_its_document(api_schema: BaseSchema) -> None:
    failures: list[Found] = []
    errors: list[str] = []
    finished: events.EngineFinished | None = None
    for event in from_schema(api_schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            failures.extend(_failures(event.recorder))
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            raise event.exception
        elif isinstance(event, events.EngineFinished):
            finished = event
            failures.extend(
                Found("", f.operation or "", None, f"{f.operation}: {f.title}\n{f.message}")
                for f in event.failures
            )
    assert finished is not None
    gaps = sorted({f.text for f in failures if f.document_gap() is not None})
    across = sorted({f.text for f in failures if f.across_identities() is not None})
    unreachable = sorted({f.text for f in failures if f.provider_unreachable() is not None})
    # Shown with `pytest -s` (warnings are errors in this suite, so not as a warning).
    print(f"{len(gaps)} failures from known document gaps (DOCUMENT_GAPS):", *gaps, sep="\n\n")
    print(f"{len(across)} failures across two identities (ACROSS_IDENTITIES):", *across, sep="\n\n")
    print(
        f"{len(unreachable)} failures from unreachable providers (PROVIDER_UNREACHABLE):",
        *unreachable,
        sep="\n\n",
    )
    unique = sorted(
        {
            f.text
            for f in failures
            if f.document_gap() is None
            and f.across_identities() is None
            and f.provider_unreachable() is None
        }
    )
    assert not errors, f"{len(errors)} errors:\n\n" + "\n\n".join(errors)
    assert not unique, f"{len(unique)} distinct failures:\n\n" + "\n\n".join(unique)


@dataclass(frozen=True)
class Found:
    check: str
    operation: str
    status: int | None
    text: str
    # Who sent the request, and who sent the request it followed a link from (None: no
    # parent, or one identity for the whole run).
    sent_as: str | None = None
    parent_sent_as: str | None = None

    def across_identities(self) -> str | None:
        if self.parent_sent_as is None or self.sent_as == self.parent_sent_as:
            return None
        return exclusions.ACROSS_IDENTITIES.get(self.check)

    def provider_unreachable(self) -> str | None:
        # Exactly the 502 that says so; any other server error still counts.
        if (
            self.check == "not_a_server_error"
            and self.status == 502
            and '"code":"provider_unavailable"' in self.text
        ):
            return exclusions.PROVIDER_UNREACHABLE
        return None

    def document_gap(self) -> str | None:
        method, _, path = self.operation.partition(" ")
        label = f"{method} {v1.native_path(path) or canonical(path)}"
        check = self.check
        if check == "status_code_conformance":
            check = f"{check}:{self.status}"
        return exclusions.DOCUMENT_GAPS.get((check, label))


def _failures(recorder: ScenarioRecorder) -> list[Found]:
    found = []
    for case_id, checks in recorder.checks.items():
        interaction = recorder.interactions.get(case_id)
        response = interaction.response if interaction is not None else None
        answer = f"  -> {response.status_code} {response.content[:300]!r}" if response else "  -> -"
        for check in checks:
            if check.failure_info is None:
                continue
            failure = check.failure_info.failure
            text = (
                f"{failure.operation}: [{check.name}] {failure.title}\n{failure.message}\n"
                f"  {check.failure_info.code_sample}\n{answer}"
            )
            status = response.status_code if response else None
            sent_as, parent_sent_as = _identities(recorder, case_id)
            if parent_sent_as is not None:
                text += f"\n  sent as {sent_as}, its parent as {parent_sent_as}"
            found.append(
                Found(check.name, failure.operation or "", status, text, sent_as, parent_sent_as)
            )
    return found


def _identities(recorder: ScenarioRecorder, case_id: str) -> tuple[str | None, str | None]:
    node = recorder.cases.get(case_id)
    if node is None:
        return None, None
    parent = recorder.find_parent(case_id=case_id)
    return node.value.auth_identity, parent.auth_identity if parent is not None else None
