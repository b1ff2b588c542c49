"""Every `micro` command that talks to the gateway takes `--api-base`, `MICRO_API_BASE` and
`--profile`, and help screens show no Python type placeholders.

The commands are pointed at a port nothing listens on: a command that honours the gateway it
was given says it cannot reach *that* URL; one that ignored it would talk to another.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import tomli_w
import typer
from typer.testing import CliRunner

from cli.main import app
from cli.stack.ports import free_port

runner = CliRunner()

# Each command that calls the gateway, with arguments that get it as far as the first call.
GATEWAY_COMMANDS: dict[str, list[str]] = {
    "login": ["--email", "dev@example.com", "--password-stdin"],
    "logout": [],
    "whoami": [],
    "trigger": ["payment_intent.succeeded"],
    "listen": ["--forward-to", "http://127.0.0.1:9/webhook"],
    "events list": [],
    "events resend": ["evt_00000000000000000000000000"],
    "api-keys list": [],
    "api-keys create": [],
    "api-keys revoke": ["key_00000000000000000000000000"],
    "payments reconcile": ["--provider", "simulator", "--from", "2026-12-01", "--to", "2026-12-01"],
}
# Commands that never call the gateway (the local stack, databases, one app, secrets).
LOCAL_COMMANDS = {
    "dev up", "dev down", "dev status", "dev logs", "dev deps", "db migrate", "db wait", "serve",
    "psql", "ledger verify", "secrets generate",
}  # fmt: skip


def leaf_commands(command: Any, prefix: str = "") -> dict[str, Any]:
    if hasattr(command, "commands"):  # a group (Typer ships its own copy of click)
        found: dict[str, Any] = {}
        for name, sub in command.commands.items():
            found.update(leaf_commands(sub, f"{prefix} {name}".strip()))
        return found
    return {prefix: command}


COMMANDS = leaf_commands(typer.main.get_command(app))


def option_names(command: Any) -> set[str]:
    return {opt for param in command.params for opt in getattr(param, "opts", [])}


def test_every_command_is_known_as_local_or_gateway() -> None:
    """A new command has to say which it is, so it cannot silently skip the options."""
    assert set(COMMANDS) - LOCAL_COMMANDS == set(GATEWAY_COMMANDS)


@pytest.mark.parametrize("name", sorted(GATEWAY_COMMANDS))
def test_gateway_commands_take_api_base_and_profile(name: str) -> None:
    assert {"--api-base", "--profile"} <= option_names(COMMANDS[name])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A config with one logged-in profile, "work", stored against some other gateway."""
    access = jwt.encode({"exp": int(time.time()) + 3600, "sub": "usr_x"}, "x" * 32)
    profile = {
        "api_base": "http://127.0.0.1:1",
        "api_key": "sk_test_" + "a" * 24,
        "access_token": access,
        "refresh_token": "rt_x",
        "email": "dev@example.com",
        "tenant_id": "ten_x",
        "role": "TENANT_ADMIN",
    }
    folder = tmp_path / "micro"
    folder.mkdir(mode=0o700)
    (folder / "config.toml").write_text(
        tomli_w.dumps({"current_profile": "default", "profiles": {"work": profile}})
    )
    (folder / "config.toml").chmod(0o600)
    return tmp_path


@pytest.mark.parametrize("how", ["flag", "env"])
@pytest.mark.parametrize("name", sorted(GATEWAY_COMMANDS))
def test_gateway_commands_call_the_gateway_they_are_given(name: str, how: str, home: Path) -> None:
    target = f"http://127.0.0.1:{free_port()}"
    args = [*name.split(), *GATEWAY_COMMANDS[name], "--profile", "work"]
    env = {"XDG_CONFIG_HOME": str(home), "MICRO_PROFILE": None, "MICRO_API_BASE": None}
    if how == "flag":
        args += ["--api-base", target]
    else:
        env["MICRO_API_BASE"] = target
    result = runner.invoke(app, args, input="a password\n", env=env)
    assert target in result.output, result.output
    assert "http://127.0.0.1:1 " not in result.output.replace("\n", " ")


def help_screens() -> list[tuple[str, list[str]]]:
    return [("micro", ["--help"])] + [
        (name, [*name.split(), "--help"]) for name in sorted(COMMANDS)
    ]


@pytest.mark.parametrize(("name", "args"), help_screens())
def test_help_shows_no_type_placeholders(name: str, args: list[str]) -> None:
    result = runner.invoke(app, args, env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    for placeholder in ("<str>", "<bool>", "<int", "<float", "<path>"):
        assert placeholder not in result.output, f"{name}: {placeholder}"


def test_password_stdin_without_email_says_email_is_needed(home: Path) -> None:
    result = runner.invoke(
        app,
        ["login", "--password-stdin", "--api-base", "http://127.0.0.1:1"],
        input="secret password\n",
        env={"XDG_CONFIG_HOME": str(home)},
    )
    assert result.exit_code == 1
    assert "--password-stdin needs --email" in result.output
    # The password was never taken for an email address.
    assert "secret password" not in result.output
