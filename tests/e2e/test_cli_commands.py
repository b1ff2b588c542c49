"""The `micro` CLI against the real stack: login flows, profiles, refresh, keys, trigger, events.

Commands run in-process through Typer's CliRunner (and a few as real processes, one in a
pseudo-terminal); every test has its own XDG_CONFIG_HOME, so ~/.config is never touched.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import redis
from typer.testing import CliRunner, Result

from cli.main import app
from shared.outbox import tenant_stream
from tests.e2e.accounts import (
    PASSWORD,
    Account,
    key_headers,
    platform_admin,
    register,
    signup_user,
)
from tests.e2e.stack import RunningStack
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

runner = CliRunner()


class Cli:
    """`micro` with its own config home, pointed at the stack's gateway."""

    def __init__(self, home: Path, api_base: str) -> None:
        self.home = home
        self.api_base = api_base

    @property
    def env(self) -> dict[str, str | None]:
        return {
            "XDG_CONFIG_HOME": str(self.home),
            "MICRO_API_BASE": self.api_base,
            "MICRO_PROFILE": None,
        }

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input, env=self.env)

    def login(self, account: Account, *extra: str) -> Result:
        result = self("login", "--email", account.email, "--password-stdin", *extra,
                      input=PASSWORD + "\n")  # fmt: skip
        assert result.exit_code == 0, result.output
        return result

    @property
    def file(self) -> Path:
        return self.home / "micro" / "config.toml"

    def document(self) -> dict[str, Any]:
        return tomllib.loads(self.file.read_text())

    def profile(self, name: str = "default") -> dict[str, Any]:
        found: dict[str, Any] = self.document()["profiles"][name]
        return found

    def edit(self, name: str = "default", **values: str) -> None:
        """Change stored values the way a stale or damaged file would have them."""
        text = self.file.read_text()
        section = f"[profiles.{name}]"
        head, _, rest = text.partition(section)
        for key, value in values.items():
            rest = re.sub(rf'(?m)^{key} = ".*"$', f'{key} = "{value}"', rest, count=1)
        self.file.write_text(head + section + rest)


@pytest.fixture
def cli(tmp_path: Path, stack: RunningStack) -> Cli:
    return Cli(tmp_path / "xdg", stack.gateway)


@pytest.fixture(scope="module")
def owner(stack: RunningStack) -> Iterator[Account]:
    with stack.client() as client:
        yield register(client, business_name="CLI Co")


@pytest.fixture(scope="module")
def shared_cli(
    tmp_path_factory: pytest.TempPathFactory, stack: RunningStack, owner: Account
) -> Cli:
    """One logged-in config for the tests that only use it (trigger, events)."""
    cli = Cli(tmp_path_factory.mktemp("shared") / "xdg", stack.gateway)
    cli.login(owner)
    return cli


def key_works(gw: httpx.Client, secret: str) -> bool:
    response = gw.get("/payments/payment_intents", params={"limit": 1}, headers=key_headers(secret))
    return response.status_code == 200


class TestLogin:
    def test_prompts_for_email_and_a_hidden_password(self, cli: Cli, gw: httpx.Client) -> None:
        owner = register(gw)
        result = cli("login", input=f"{owner.email}\n{PASSWORD}\n")
        assert result.exit_code == 0, result.output
        assert PASSWORD not in result.output
        assert result.stdout.strip().endswith(
            f"Logged in as {owner.email} (tenant {owner.tenant_id}) — profile default"
        )
        stored = cli.profile()
        assert (stored["email"], stored["tenant_id"]) == (owner.email, owner.tenant_id)
        assert stored["api_key"].startswith("sk_test_")
        assert key_works(gw, stored["api_key"])
        assert stat.S_IMODE(cli.file.stat().st_mode) == 0o600
        assert stat.S_IMODE(cli.file.parent.stat().st_mode) == 0o700

    def test_in_a_real_terminal(self, cli: Cli, gw: httpx.Client, stack: RunningStack) -> None:
        owner = register(gw)
        env = {**os.environ, "XDG_CONFIG_HOME": str(cli.home), "MICRO_API_BASE": stack.gateway}
        env.pop("MICRO_PROFILE", None)
        master, slave = pty.openpty()
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "login"],
            stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
        )  # fmt: skip
        os.close(slave)
        seen = b""

        def read_until(marker: bytes) -> None:
            nonlocal seen
            deadline = time.monotonic() + 60
            while marker not in seen and time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.5)
                if ready:
                    try:
                        seen += os.read(master, 4096)
                    except OSError:  # the child closed the terminal
                        break
            assert marker in seen, seen

        try:
            read_until(b"Email:")
            os.write(master, owner.email.encode() + b"\n")
            # The space comes from getpass once echo is off (and pending input flushed).
            read_until(b"Password: ")
            os.write(master, PASSWORD.encode() + b"\n")
            read_until(b"Logged in as")
            assert process.wait(60) == 0
        finally:
            if process.poll() is None:
                process.kill()
            os.close(master)
        assert PASSWORD.encode() not in seen  # the terminal did not echo it
        assert cli.profile()["email"] == owner.email

    def test_password_from_stdin_and_whoami(self, cli: Cli, gw: httpx.Client) -> None:
        owner = register(gw)
        cli.login(owner)
        result = cli("whoami")
        assert result.exit_code == 0, result.output
        fields = dict(line.split(":", 1) for line in result.stdout.splitlines())
        fields = {key: value.strip() for key, value in fields.items()}
        assert fields["Email"] == owner.email
        assert fields["Role"] == "TENANT_ADMIN"
        assert fields["Tenant"] == owner.tenant_id
        assert fields["Mode"] == "test"
        assert fields["API base"] == cli.api_base
        assert fields["Profile"] == "default"

    def test_wrong_password_is_one_line_and_exit_1(self, cli: Cli, gw: httpx.Client) -> None:
        owner = register(gw)
        result = cli("login", "--email", owner.email, "--password-stdin", input="wrong pw\n")
        assert result.exit_code == 1
        assert result.stderr == "micro: Login failed: Invalid email or password.\n"
        assert not cli.file.exists()

    def test_logging_in_again_keeps_the_working_cli_key(self, cli: Cli, gw: httpx.Client) -> None:
        owner = register(gw)
        cli.login(owner)
        first = cli.profile()
        cli.login(owner)
        second = cli.profile()
        assert second["api_key_id"] == first["api_key_id"]
        assert second["refresh_token"] != first["refresh_token"]
        # The replaced session was ended, not left behind.
        me = gw.get("/auth/me", headers={"Authorization": f"Bearer {first['access_token']}"})
        assert me.status_code == 401
        keys = gw.get("/auth/api_keys", headers=owner.headers).json()["data"]
        assert [k["id"] for k in keys if k["status"] == "active"] == [first["api_key_id"]]

    def test_another_tenant_on_the_same_profile_retires_the_old_key(
        self, cli: Cli, gw: httpx.Client
    ) -> None:
        first, second = register(gw), register(gw)
        cli.login(first)
        old = cli.profile()
        cli.login(second)
        assert cli.profile()["tenant_id"] == second.tenant_id
        eventually(lambda: not key_works(gw, old["api_key"]), what="old CLI key refused")
        me = gw.get("/auth/me", headers={"Authorization": f"Bearer {old['access_token']}"})
        assert me.status_code == 401

    def test_with_an_api_key(self, cli: Cli, gw: httpx.Client) -> None:
        owner = register(gw)
        secret = gw.post(
            "/auth/api_keys", json={"environment": "test"}, headers=owner.headers
        ).json()["secret"]
        result = cli("login", "--api-key", secret)
        assert result.exit_code == 0, result.output
        assert "Logged in as API key sk_test_…" in result.stdout
        made = cli("trigger", "payment_intent.created")
        assert made.exit_code == 0, made.output
        whoami = cli("whoami")
        assert "(logged in with an API key)" in whoami.stdout
        # Logging out forgets the key locally; it is the user's own, so it keeps working.
        assert cli("logout").exit_code == 0
        assert key_works(gw, secret)

    def test_with_a_live_key_trigger_refuses(self, cli: Cli, gw: httpx.Client) -> None:
        owner = register(gw)
        secret = gw.post(
            "/auth/api_keys", json={"environment": "live"}, headers=owner.headers
        ).json()["secret"]
        # Live mode is off until a platform admin turns it on: the key is refused, clearly.
        refused = cli("login", "--api-key", secret)
        assert refused.exit_code == 1
        assert "Live mode is not enabled" in refused.stderr
        enabled = gw.post(
            f"/auth/tenants/{owner.tenant_id}/live_mode",
            json={"enabled": True},
            headers=platform_admin(gw).headers,
        )
        assert enabled.status_code == 200, enabled.text
        time.sleep(1)  # the gateway evicts the "off" it cached within a second
        assert cli("login", "--api-key", secret).exit_code == 0
        assert "Mode:     live" in cli("whoami").stdout
        result = cli("trigger", "payment_intent.created")
        assert result.exit_code == 1
        assert "live key" in result.stderr

    def test_with_a_bad_api_key(self, cli: Cli) -> None:
        result = cli("login", "--api-key", "sk_test_" + "x" * 40)
        assert result.exit_code == 1
        assert result.stderr.startswith("micro: Login failed: Invalid API key provided")
        assert not cli.file.exists()

    def test_a_plain_user_gets_the_session_but_no_key(self, cli: Cli, gw: httpx.Client) -> None:
        owner = register(gw)
        user = signup_user(gw, owner)
        result = cli("login", "--email", user.email, "--password-stdin", input=PASSWORD + "\n")
        assert result.exit_code == 0, result.output
        assert "no API key made for the CLI" in result.stderr
        assert "api_key" not in cli.profile()
        assert "Role:     USER" in cli("whoami").stdout


class TestProfiles:
    def test_two_profiles_two_tenants(self, cli: Cli, gw: httpx.Client) -> None:
        first, second = register(gw), register(gw)
        cli.login(first, "--profile", "first")
        cli.login(second, "--profile", "second")
        assert cli.document()["current_profile"] == "second"
        assert first.tenant_id in cli("whoami", "--profile", "first").stdout
        assert second.tenant_id in cli("whoami").stdout
        via_env = runner.invoke(app, ["whoami"], env={**cli.env, "MICRO_PROFILE": "first"})
        assert first.tenant_id in via_env.stdout
        # Objects land in the tenant of the profile that made them.
        made = cli("trigger", "payment_intent.created", "-p", "first")
        intent_id = made.stdout.split()[2]
        for profile, status in (("first", 200), ("second", 404)):
            key = cli.profile(profile)["api_key"]
            found = gw.get(f"/payments/payment_intents/{intent_id}", headers=key_headers(key))
            assert found.status_code == status
        # Logging one out leaves the other.
        assert cli("logout", "-p", "first").exit_code == 0
        assert cli("whoami", "-p", "first").exit_code == 1
        assert cli("whoami", "-p", "second").exit_code == 0


class TestSession:
    def test_a_refused_access_token_is_refreshed_by_itself(
        self, cli: Cli, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        cli.login(owner)
        before = cli.profile()
        cli.edit(access_token="garbled")
        result = cli("api-keys", "list")
        assert result.exit_code == 0, result.output
        after = cli.profile()
        # (The new access token may equal the old one byte for byte: same claims, same second.)
        assert after["access_token"] != "garbled"
        assert after["refresh_token"] != before["refresh_token"]
        me = gw.get("/auth/me", headers={"Authorization": f"Bearer {after['access_token']}"})
        assert me.status_code == 200

    def test_an_expired_access_token_is_refreshed_before_use(
        self, cli: Cli, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        cli.login(owner)
        before = cli.profile()
        expired = jwt.encode({"sub": "x", "exp": int(time.time()) - 60}, "k" * 32, "HS256")
        cli.edit(access_token=expired)
        assert cli("whoami").exit_code == 0
        after = cli.profile()
        assert after["access_token"] != expired
        assert after["refresh_token"] != before["refresh_token"]

    def test_processes_refreshing_at_once_do_not_end_the_session(
        self, cli: Cli, gw: httpx.Client
    ) -> None:
        """Refresh tokens rotate and a reused one revokes the session: concurrent `micro`
        processes (a `listen` and a command) must refresh once, not each."""
        owner = register(gw)
        cli.login(owner)
        cli.edit(access_token="garbled")
        env = {**os.environ, "XDG_CONFIG_HOME": str(cli.home)}
        env.pop("MICRO_PROFILE", None)
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "cli", "whoami"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        outcomes = [(p.communicate(timeout=60)[1], p.returncode) for p in processes]
        assert outcomes == [("", 0)] * 3
        assert cli("api-keys", "list").exit_code == 0

    def test_an_ended_session_asks_to_log_in_again(self, cli: Cli, gw: httpx.Client) -> None:
        owner = register(gw)
        cli.login(owner)
        cli.edit(access_token="garbled", refresh_token="also-garbled")
        result = cli("whoami")
        assert result.exit_code == 1
        assert result.stderr == "micro: Your session has expired: run `micro login`\n"
        stored = cli.profile()
        assert "access_token" not in stored
        assert "refresh_token" not in stored
        # The API key still works for API commands.
        assert cli("trigger", "payment_intent.created").exit_code == 0

    def test_logout_revokes_the_session_and_the_cli_key(self, cli: Cli, gw: httpx.Client) -> None:
        owner = register(gw)
        cli.login(owner)
        stored = cli.profile()
        result = cli("logout")
        assert result.exit_code == 0, result.output
        assert result.stdout == "Logged out — profile default\n"
        assert set(cli.profile()) == {"api_base"}
        me = gw.get("/auth/me", headers={"Authorization": f"Bearer {stored['access_token']}"})
        assert me.status_code == 401
        refreshed = gw.post("/auth/refresh", json={"refresh_token": stored["refresh_token"]})
        assert refreshed.status_code == 401
        eventually(lambda: not key_works(gw, stored["api_key"]), what="CLI key refused")
        assert cli("whoami").stderr == "micro: Not logged in: run `micro login`\n"

    def test_a_revoked_cli_key_is_replaced_by_itself(self, cli: Cli, gw: httpx.Client) -> None:
        owner = register(gw)
        cli.login(owner)
        old = cli.profile()
        gone = gw.delete(f"/auth/api_keys/{old['api_key_id']}", headers=owner.headers)
        assert gone.status_code == 200
        eventually(lambda: not key_works(gw, old["api_key"]), what="old key refused")
        result = cli("trigger", "payment_intent.created")
        assert result.exit_code == 0, result.output
        new = cli.profile()
        assert new["api_key_id"] != old["api_key_id"]
        assert key_works(gw, new["api_key"])


class TestApiKeys:
    def test_create_list_revoke(self, cli: Cli, gw: httpx.Client) -> None:
        owner = register(gw)
        cli.login(owner)
        created = cli("api-keys", "create", "--name", "ci")
        assert created.exit_code == 0, created.output
        key_id = created.stdout.split()[1]
        secret = created.stdout.splitlines()[1]
        assert secret.startswith("sk_test_")
        assert key_works(gw, secret)
        listed = cli("api-keys", "list")
        assert listed.exit_code == 0
        assert listed.stdout.splitlines()[0].split() == [
            "ID", "KEY", "STATUS", "CREATED", "LAST", "USED", "NAME",
        ]  # fmt: skip
        assert secret not in listed.stdout
        assert secret[-4:] in listed.stdout
        mine = [line for line in listed.stdout.splitlines() if line.startswith("*")]
        assert len(mine) == 1
        assert cli.profile()["api_key_id"] in mine[0]
        revoked = cli("api-keys", "revoke", key_id)
        assert revoked.exit_code == 0, revoked.output
        eventually(lambda: not key_works(gw, secret), what="revoked key refused")
        again = cli("api-keys", "revoke", key_id)
        assert again.exit_code == 1
        assert "already revoked" in again.stderr

    def test_live_key(self, cli: Cli, gw: httpx.Client) -> None:
        cli.login(register(gw))
        created = cli("api-keys", "create", "--live")
        assert created.exit_code == 0, created.output
        assert created.stdout.splitlines()[1].startswith("sk_live_")

    def test_another_tenants_key_cannot_be_revoked(self, cli: Cli, gw: httpx.Client) -> None:
        other = register(gw)
        theirs = gw.post(
            "/auth/api_keys", json={"environment": "test"}, headers=other.headers
        ).json()
        cli.login(register(gw))
        result = cli("api-keys", "revoke", theirs["id"])
        assert result.exit_code == 1
        assert "No such API key" in result.stderr
        assert key_works(gw, theirs["secret"])


EXPECTED: dict[str, tuple[str, str]] = {
    # event -> (object to check, its status after the trigger)
    "payment_intent.created": ("payment_intent", "requires_payment_method"),
    "payment_intent.succeeded": ("payment_intent", "succeeded"),
    "payment_intent.payment_failed": ("payment_intent", "requires_payment_method"),
    "payment_intent.requires_action": ("payment_intent", "requires_action"),
    "payment_intent.canceled": ("payment_intent", "canceled"),
    "payment_intent.amount_capturable_updated": ("payment_intent", "requires_capture"),
    "refund.created": ("refund", "succeeded"),
    "payout.paid": ("payout", "paid"),
    "payout.failed": ("payout", "failed"),
    "wallet.created": ("wallet", "active"),
    "wallet.deposit.succeeded": ("wallet.operation", "succeeded"),
    "wallet.transfer.completed": ("wallet.operation", "succeeded"),
    "wallet.withdrawal.succeeded": ("wallet.operation", "succeeded"),
}
PATHS = {
    "payment_intent": "/payments/payment_intents",
    "refund": "/payments/refunds",
    "payout": "/payments/payouts",
    "wallet": "/wallet",
    "wallet.operation": "/wallet/operations",
}


def stream_events(stack: RunningStack, tenant_id: str) -> list[dict[str, Any]]:
    client = redis.Redis(port=stack.redis_port)
    try:
        # redis-py types the sync and async answers as one union: this one is the sync list.
        found: Any = client.xrange(tenant_stream(tenant_id, False))
        entries: list[tuple[bytes, dict[bytes, bytes]]] = found
    finally:
        client.close()
    return [json.loads(fields[b"event"]) for _, fields in entries]


class TestTrigger:
    @pytest.mark.parametrize("event", list(EXPECTED))
    def test_makes_the_object_and_its_event(
        self, event: str, shared_cli: Cli, owner: Account, gw: httpx.Client, stack: RunningStack
    ) -> None:
        result = shared_cli("trigger", event)
        assert result.exit_code == 0, result.output
        kind, status = EXPECTED[event]
        # "Created KIND ID (STATUS)" per object; the last of the kind is the one that emits.
        made = [
            (line.split()[1], line.split()[2])
            for line in result.stdout.splitlines()
            if line.startswith("Created ")
        ]
        object_id = [found_id for found_kind, found_id in made if found_kind == kind][-1]
        key = shared_cli.profile()["api_key"]
        found = gw.get(f"{PATHS[kind]}/{object_id}", headers=key_headers(key))
        assert found.status_code == 200, found.text
        assert found.json()["status"] == status
        if event == "payment_intent.payment_failed":
            assert found.json()["last_payment_error"] is not None

        def emitted() -> bool:
            return any(
                e["type"] == event and e["data"]["object"]["id"] == object_id
                for e in stream_events(stack, owner.tenant_id)
            )

        eventually(emitted, what=f"{event} for {object_id} in the tenant's stream")

    def test_a_refused_call_prints_the_api_error(self, cli: Cli, gw: httpx.Client) -> None:
        user = signup_user(gw, register(gw))
        result = cli("login", "--email", user.email, "--password-stdin", input=PASSWORD + "\n")
        assert result.exit_code == 0, result.output
        # A USER has no key and their session may not take payments: the API says so.
        refused = cli("trigger", "payment_intent.created")
        assert refused.exit_code == 1
        assert refused.stdout == ""
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("micro: ")


class TestEvents:
    def test_list_and_resend(self, shared_cli: Cli, owner: Account) -> None:
        made = shared_cli("trigger", "payment_intent.succeeded")
        assert made.exit_code == 0, made.output
        intent_id = made.stdout.split()[2]

        def listed() -> dict[str, Any] | None:
            result = shared_cli(
                "events", "list", "--type", "payment_intent.succeeded", "--format", "json"
            )
            assert result.exit_code == 0, result.output
            events = json.loads(result.stdout)
            assert all(e["type"] == "payment_intent.succeeded" for e in events)
            return next((e for e in events if e["data"]["object"]["id"] == intent_id), None)

        event = eventually(listed, what="the event in `micro events list`")
        assert event["tenant_id"] == owner.tenant_id
        table = shared_cli("events", "list", "--limit", "100")
        assert table.stdout.splitlines()[0].split() == ["ID", "CREATED", "TYPE", "OBJECT"]
        assert any(event["id"] in line and intent_id in line for line in table.stdout.splitlines())
        resent = shared_cli("events", "resend", event["id"])
        assert resent.exit_code == 0, resent.output
        assert resent.stdout.startswith(f"Resent {event['id']}")

    def test_resend_unknown_event(self, shared_cli: Cli) -> None:
        result = shared_cli("events", "resend", "evt_" + "0" * 26)
        assert result.exit_code == 1
        assert len(result.stderr.strip().splitlines()) == 1

    def test_limit_is_checked_before_any_call(self, shared_cli: Cli) -> None:
        assert shared_cli("events", "list", "--limit", "0").exit_code == 2
        assert shared_cli("events", "list", "--limit", "101").exit_code == 2


def test_micro_as_a_real_process(cli: Cli, gw: httpx.Client) -> None:
    owner = register(gw)
    cli.login(owner)
    script = Path(sys.executable).parent / "micro"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "cli"]
    env = {**os.environ, "XDG_CONFIG_HOME": str(cli.home)}
    env.pop("MICRO_PROFILE", None)
    result = subprocess.run(
        [*command, "whoami"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert f"Email:    {owner.email}" in result.stdout
    env["XDG_CONFIG_HOME"] = str(cli.home.parent / "empty")
    missing = subprocess.run(
        [*command, "whoami"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert missing.returncode == 1
    assert missing.stderr == "micro: Not logged in: run `micro login`\n"
