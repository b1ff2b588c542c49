"""The CLI's credential store and the errors a user meets before any server answers.

The flows against a real gateway (login, refresh, logout, profiles, trigger) are in
tests/e2e/test_cli_commands.py; these need no stack: a closed port stands for a stopped one.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import config
from cli.config import NotLoggedIn, Profile
from cli.main import app
from cli.stack.ports import free_port

runner = CliRunner()


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own XDG_CONFIG_HOME: the real ~/.config is never touched."""
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("MICRO_PROFILE", raising=False)
    monkeypatch.delenv("MICRO_API_BASE", raising=False)
    return home


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


class TestConfigFile:
    def test_created_0600_in_a_0700_directory_even_with_a_lax_umask(
        self, config_home: Path
    ) -> None:
        old = os.umask(0)
        try:
            config.save_profile(Profile(name="default", api_key="sk_test_x"), make_current=True)
        finally:
            os.umask(old)
        assert mode(config_home / "micro") == 0o700
        assert mode(config_home / "micro" / "config.toml") == 0o600

    def test_an_existing_lax_directory_is_tightened(self, config_home: Path) -> None:
        (config_home / "micro").mkdir(parents=True)
        (config_home / "micro").chmod(0o755)
        config.save_profile(Profile(name="default", api_key="sk_test_x"))
        assert mode(config_home / "micro") == 0o700

    def test_saving_one_profile_keeps_the_others(self, config_home: Path) -> None:
        config.save_profile(Profile(name="a", api_key="sk_test_a", email="a@example.com"))
        config.save_profile(Profile(name="b", api_key="sk_test_b"), make_current=True)
        config.save_profile(Profile(name="a", api_key="sk_test_a2", email="a@example.com"))
        document = tomllib.loads((config_home / "micro" / "config.toml").read_text())
        assert document["current_profile"] == "b"
        assert document["profiles"]["a"]["api_key"] == "sk_test_a2"
        assert document["profiles"]["b"]["api_key"] == "sk_test_b"
        # Written by rename: no temp file left next to it.
        assert sorted(p.name for p in (config_home / "micro").iterdir()) == [
            ".config.lock",
            "config.toml",
        ]

    def test_the_current_profile_then_micro_profile_choose(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        config.save_profile(Profile(name="work", api_key="sk_test_w"), make_current=True)
        config.save_profile(Profile(name="home", api_key="sk_test_h"))
        assert config.load_profile().name == "work"
        monkeypatch.setenv("MICRO_PROFILE", "home")
        assert config.load_profile().api_key == "sk_test_h"
        assert config.load_profile("work").api_key == "sk_test_w"

    def test_a_profile_without_credentials_is_not_logged_in(self) -> None:
        config.save_profile(Profile(name="default", api_base="http://x"))
        with pytest.raises(NotLoggedIn, match=r"^Not logged in: run `micro login`$"):
            config.load_profile()
        with pytest.raises(NotLoggedIn, match=r"run `micro login --profile other`"):
            config.load_profile("other")

    def test_unknown_keys_in_the_file_are_ignored(self, config_home: Path) -> None:
        (config_home / "micro").mkdir(parents=True)
        (config_home / "micro" / "config.toml").write_text(
            '[profiles.default]\napi_key = "sk_test_k"\nfuture_setting = 1\n'
        )
        assert config.load_profile().api_key == "sk_test_k"

    def test_a_broken_file_is_one_clear_line(self, config_home: Path) -> None:
        (config_home / "micro").mkdir(parents=True)
        (config_home / "micro" / "config.toml").write_text("[profiles.default\n")
        result = runner.invoke(app, ["whoami"])
        assert result.exit_code == 1
        assert "config.toml is not valid TOML" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


class TestNotLoggedIn:
    @pytest.mark.parametrize(
        "args",
        [
            ["whoami"],
            ["trigger", "payment_intent.created"],
            ["events", "list"],
            ["events", "resend", "evt_x"],
            ["api-keys", "list"],
            ["api-keys", "create"],
            ["api-keys", "revoke", "key_x"],
        ],
    )
    def test_every_command_says_to_log_in(self, args: list[str]) -> None:
        result = runner.invoke(app, args)
        assert result.exit_code == 1
        assert result.stderr == "micro: Not logged in: run `micro login`\n"

    def test_the_profile_is_named_in_the_hint(self) -> None:
        result = runner.invoke(app, ["whoami", "--profile", "staging"])
        assert result.exit_code == 1
        assert "run `micro login --profile staging`" in result.stderr

    def test_logout_with_nothing_stored_is_harmless(self) -> None:
        result = runner.invoke(app, ["logout"])
        assert result.exit_code == 0
        assert "nothing to do" in result.stdout

    def test_an_api_key_only_profile_cannot_manage_keys(self) -> None:
        config.save_profile(
            Profile(name="default", api_base=closed_port_url(), api_key="sk_test_k")
        )
        result = runner.invoke(app, ["api-keys", "list"])
        assert result.exit_code == 1
        assert "needs a signed-in user" in result.stderr


class TestGatewayUnreachable:
    def test_login(self) -> None:
        url = closed_port_url()
        result = runner.invoke(
            app,
            ["login", "--email", "a@example.com", "--password-stdin", "--api-base", url],
            input="secret-password\n",
        )
        assert result.exit_code == 1
        assert result.stderr.splitlines() == [
            f"micro: Gateway unreachable at {url}: is the stack running? (`micro dev up`)"
        ]

    @pytest.mark.parametrize(
        "args", [["whoami"], ["trigger", "payment_intent.succeeded"], ["events", "list"]]
    )
    def test_stored_profile(self, args: list[str]) -> None:
        url = closed_port_url()
        config.save_profile(
            Profile(name="default", api_base=url, api_key="sk_test_k", access_token="t"),
            make_current=True,
        )
        result = runner.invoke(app, args)
        assert result.exit_code == 1
        assert f"Gateway unreachable at {url}" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1

    def test_logout_still_forgets_the_credentials_and_says_what_was_not_revoked(self) -> None:
        url = closed_port_url()
        config.save_profile(
            Profile(
                name="default",
                api_base=url,
                api_key="sk_test_k",
                api_key_id="key_x",
                api_key_created_by_cli=True,
                access_token="t",
                refresh_token="r",
            ),
            make_current=True,
        )
        result = runner.invoke(app, ["logout"])
        assert result.exit_code == 0
        assert "the session was not revoked server-side" in result.stderr
        stored = config.find_profile("default")
        assert stored == Profile(name="default", api_base=url)


class TestLoginInput:
    def test_an_api_key_must_look_like_one(self) -> None:
        result = runner.invoke(app, ["login", "--api-key", "pk_nope"])
        assert result.exit_code == 1
        assert "sk_test_ or sk_live_" in result.stderr

    def test_an_empty_password_on_stdin_is_refused_before_any_call(self) -> None:
        result = runner.invoke(
            app, ["login", "--email", "a@example.com", "--password-stdin"], input=""
        )
        assert result.exit_code == 1
        assert "no password on standard input" in result.stderr


class TestTriggerList:
    def test_lists_one_line_per_event(self) -> None:
        result = runner.invoke(app, ["trigger", "--list"])
        assert result.exit_code == 0
        lines = result.stdout.splitlines()
        names = [line.split()[0] for line in lines]
        assert "payment_intent.succeeded" in names
        assert "payout.failed" in names
        assert all(len(line.split()) > 1 for line in lines)

    def test_an_unknown_event_points_at_the_list(self) -> None:
        config.save_profile(Profile(name="default", api_key="sk_test_k"), make_current=True)
        result = runner.invoke(app, ["trigger", "charge.nope"])
        assert result.exit_code == 1
        assert "micro trigger --list" in result.stderr
