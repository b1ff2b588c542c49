"""No app starts on a secret anyone could know: each refuses a missing, short, malformed or
published value with one line, and starts on what `micro secrets generate` prints.

The apps are started as `python -m cli serve APP` subprocesses, as a deployment runs them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Awaitable, Callable

import httpx
import pytest
from cryptography.fernet import Fernet

from cli.stack.ports import free_port
from cli.stack.secrets import stack_secrets
from gateway.relay.tokens import listen_secret
from services.ledger.settings import LedgerSettings
from shared import secrets, webhooks
from shared.secrets import (
    ADMIN_PASSWORD,
    CREDENTIALS,
    IDENTITY,
    LISTEN_SIGNING,
    RELAY_TOKEN,
    WEBHOOK_SECRETS,
)
from tests.support.processes import serving
from tests.support.servers import CreateDb, scratch_dir

# The values once written in the source as defaults (shared/settings.py, the payments
# settings, docker-compose.yml): public knowledge, so never accepted.
OLD_DEV_SECRET = "micro-dev-internal-secret-change-me-0123456789"
OLD_CREDENTIALS_KEY = "bWljcm8tZGV2LWNyZWRlbnRpYWxzLWtleS0wMTIzNDU="
OLD_COMPOSE_SECRET = "change-me-in-production-0123456789abcdef"
OLD_ADMIN_PASSWORD = "micro-admin-password"

# Which secrets each app reads.
NEEDS = {
    "auth": (IDENTITY, ADMIN_PASSWORD),
    "gateway": (IDENTITY, RELAY_TOKEN, LISTEN_SIGNING),
    "payments": (IDENTITY, CREDENTIALS),
    "events": (IDENTITY, WEBHOOK_SECRETS),
}


def generate_cli() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "secrets", "generate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def base_env(app: str, port: int, redis_url: str, database_url: str | None) -> dict[str, str]:
    """A production-like environment without any secret: nothing MICRO_* from ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")}
    prefix = f"MICRO_{app.upper()}_"
    env |= {f"{prefix}HOST": "127.0.0.1", f"{prefix}PORT": str(port), "MICRO_REDIS_URL": redis_url}
    if database_url:
        env[f"{prefix}DATABASE_URL"] = database_url
    if app == "gateway":
        env["MICRO_GATEWAY_METRICS_PORT"] = str(free_port())
    return env


def refused(env: dict[str, str], app: str) -> str:
    """The one line an app that refuses to start prints; fails if it started."""
    result = subprocess.run(
        [sys.executable, "-m", "cli", "serve", app],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one line, no traceback
    assert "micro secrets generate" in lines[0]
    return lines[0]


StartEnv = Callable[[str, int], Awaitable[dict[str, str]]]


@pytest.fixture
def start_env(create_db: CreateDb, redis_url: str) -> StartEnv:
    """The env for starting `app` on `port`, its own fresh database included."""

    async def make(app: str, port: int) -> dict[str, str]:
        dsn = await create_db(app) if app != "gateway" else None
        return base_env(app, port, redis_url, dsn)

    return make


# -- `micro secrets generate` ------------------------------------------------------------------


def test_generate_prints_one_distinct_usable_value_per_purpose() -> None:
    result = generate_cli()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    values = secrets.parse_env_lines(result.stdout)
    assert [line.split("=", 1)[0] for line in lines] == [p.env for p in secrets.PURPOSES]
    assert len(set(values.values())) == len(secrets.PURPOSES)
    for purpose in secrets.PURPOSES:
        assert secrets.check(purpose, values[purpose.env]) == values[purpose.env]
    assert secrets.parse_env_lines(generate_cli().stdout) != values  # fresh every time


# -- the checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "value", "problem"),
    [
        (IDENTITY, "", "is not set"),
        (IDENTITY, " , ", "is not set"),
        (IDENTITY, OLD_DEV_SECRET, "published"),
        (IDENTITY, OLD_COMPOSE_SECRET, "published"),
        (IDENTITY, "please-change-me-before-going-live-0123456789", "published"),
        (IDENTITY, "too-short-0123456789", "too short"),
        (RELAY_TOKEN, "a" * 31, "too short"),
        (CREDENTIALS, OLD_CREDENTIALS_KEY, "published"),
        (CREDENTIALS, "not-a-fernet-key-but-long-enough-0123456789", "not a Fernet key"),
        (WEBHOOK_SECRETS, "", "is not set"),
        (IDENTITY, f"{'k' * 40},{'k' * 40}", "same key twice"),
        (ADMIN_PASSWORD, OLD_ADMIN_PASSWORD, "published"),
        (ADMIN_PASSWORD, "", "is not set"),
        (ADMIN_PASSWORD, "hunter2-hunter2", "too short"),
    ],
)
def test_unusable_values_are_refused_naming_the_variable(
    purpose: secrets.Purpose, value: str, problem: str
) -> None:
    with pytest.raises(secrets.SecretError) as error:
        secrets.check(purpose, value)
    assert str(error.value).startswith(purpose.env)
    assert problem in str(error.value)


def test_identity_keys_are_a_comma_list_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    new, old = (secrets.generate()[IDENTITY.env] for _ in range(2))
    monkeypatch.setenv("MICRO_IDENTITY_KEYS", f"{new}, {old}")
    settings = LedgerSettings()
    assert settings.identity_keys == [new, old]
    assert settings.identity_key == new


def test_the_stack_secrets_file_is_private_and_kept() -> None:
    with scratch_dir("micro-secrets-") as root:
        path = root / ".micro" / "secrets.env"
        first = stack_secrets(path)
        assert path.stat().st_mode & 0o777 == 0o600
        assert stack_secrets(path) == first  # reused on the next start
        assert set(first) == {p.env for p in secrets.PURPOSES}
        # A purpose added later gets a value; the others stay.
        path.write_text(secrets.env_lines({IDENTITY.env: first[IDENTITY.env]}))
        completed = stack_secrets(path)
        assert completed[IDENTITY.env] == first[IDENTITY.env]
        assert set(completed) == set(first)


def test_a_listen_secret_cannot_be_computed_from_the_identity_key() -> None:
    values = secrets.generate()
    identity, signing = values[IDENTITY.env], values[LISTEN_SIGNING.env]
    real = listen_secret(signing, "ten_1", False)
    guesses = {
        listen_secret(identity, "ten_1", False),
        webhooks.derived_secret(identity, "ten_1"),
        listen_secret(values[RELAY_TOKEN.env], "ten_1", False),
    }
    assert real not in guesses


# -- apps started as a deployment starts them -----------------------------------------------


@pytest.mark.parametrize("app", list(NEEDS))
async def test_an_app_without_its_secrets_refuses_to_start(start_env: StartEnv, app: str) -> None:
    env = await start_env(app, free_port())
    line = refused(env, app)
    assert line.startswith(f"micro: {app}: MICRO_IDENTITY_KEYS is not set")
    # Given the identity key, the app names every other secret it still lacks.
    env[IDENTITY.env] = secrets.generate()[IDENTITY.env]
    others = NEEDS[app][1:]
    if others:
        line = refused(env, app)
        assert all(f"{purpose.env} is not set" in line for purpose in others)


@pytest.mark.parametrize(
    ("app", "purpose", "value", "problem"),
    [
        ("auth", IDENTITY, OLD_DEV_SECRET, "published"),
        ("auth", IDENTITY, "short-0123456789", "too short"),
        ("auth", ADMIN_PASSWORD, OLD_ADMIN_PASSWORD, "published"),
        ("auth", ADMIN_PASSWORD, "short-pass", "too short"),
        ("gateway", RELAY_TOKEN, OLD_DEV_SECRET, "published"),
        ("gateway", LISTEN_SIGNING, "short-0123456789", "too short"),
        ("payments", CREDENTIALS, OLD_CREDENTIALS_KEY, "published"),
        ("payments", CREDENTIALS, "x" * 44, "not a Fernet key"),
        ("events", WEBHOOK_SECRETS, "short", "not a Fernet key"),
    ],
)
async def test_an_app_refuses_a_known_or_weak_secret(
    start_env: StartEnv, app: str, purpose: secrets.Purpose, value: str, problem: str
) -> None:
    env = await start_env(app, free_port())
    env |= secrets.generate()
    env[purpose.env] = value
    line = refused(env, app)
    assert purpose.env in line
    assert problem in line


async def test_the_gateway_refuses_one_value_for_two_purposes(start_env: StartEnv) -> None:
    env = await start_env("gateway", free_port())
    env |= secrets.generate()
    env[RELAY_TOKEN.env] = env[IDENTITY.env]
    line = refused(env, "gateway")
    assert f"{RELAY_TOKEN.env} reuses the value of {IDENTITY.env}" in line


@pytest.mark.parametrize("app", list(NEEDS))
async def test_an_app_starts_on_generated_secrets(start_env: StartEnv, app: str) -> None:
    port = free_port()
    env = await start_env(app, port)
    env |= secrets.parse_env_lines(generate_cli().stdout)
    with serving(env, app, port):
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/health", timeout=5)
    assert response.status_code == (503 if app == "gateway" else 200)


def test_fernet_keys_rotate_as_a_list() -> None:
    new, old = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    assert secrets.check(CREDENTIALS, f"{new},{old}") == f"{new},{old}"
