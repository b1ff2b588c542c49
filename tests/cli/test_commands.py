"""The `micro` command: its help, the database tasks, the stack commands' error paths and the
order `micro dev up` reports its start-up in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from cli import dev
from cli.main import app
from cli.stack.binaries import ensure_binaries
from cli.stack.config import DevSettings
from cli.stack.errors import StackError
from cli.stack.ports import free_port
from shared.migrations import load_migrations, migrations_dir, shared_migrations_dir
from shared.settings import APPS
from tests.support.processes import micro
from tests.support.servers import CreateDb, PostgresHandle

runner = CliRunner()


def isolated_dev_env(tmp_path: Path) -> dict[str, str]:
    return {
        "MICRO_DEV_DIR": str(tmp_path / ".micro"),
        "MICRO_DEV_HTTP_PORTS": json.dumps({app: free_port() for app in APPS}),
    }


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("dev", "db", "serve", "psql"):
        assert command in result.output


async def test_db_migrate_applies_once(pg: PostgresHandle) -> None:
    await pg.create_database("cli_migrate")
    env = {
        "MICRO_LEDGER_MIGRATION_DATABASE_URL": pg.dsn("cli_migrate"),
        "MICRO_LEDGER_DATABASE_URL": pg.app_dsn("ledger", "cli_migrate"),
    }
    expected = ", ".join(
        m.filename
        for m in (
            *load_migrations(migrations_dir("ledger")),
            *load_migrations(shared_migrations_dir()),
        )
    )
    first = micro("db", "migrate", "ledger", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"ledger: {expected}"
    second = micro("db", "migrate", "ledger", env=env)
    assert second.stdout.strip() == "ledger: nothing to apply"


def test_db_migrate_unreachable_database_is_one_line() -> None:
    env = {"MICRO_LEDGER_DATABASE_URL": f"postgres://micro:secret@127.0.0.1:{free_port()}/ledger"}
    result = micro("db", "migrate", "ledger", env=env)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("micro: ledger: cannot reach postgres://micro:***@127.0.0.1:")
    assert "secret" not in line


@pytest.mark.parametrize("args", [["db", "migrate", "nope"], ["psql", "nope"], ["serve", "nope"]])
def test_unknown_service_names_are_refused(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "unknown" in result.output


def test_status_logs_and_down_without_a_stack(tmp_path: Path) -> None:
    env = isolated_dev_env(tmp_path)
    status = runner.invoke(app, ["dev", "status"], env=env)
    assert status.exit_code == 3
    assert "stack: stopped" in status.output
    logs = runner.invoke(app, ["dev", "logs"], env=env)
    assert logs.exit_code == 1
    assert "no logs yet" in logs.output
    down = runner.invoke(app, ["dev", "down"], env=env)
    assert down.exit_code == 0
    assert "no stack is running" in down.output


def test_missing_binaries_are_named_with_the_command_to_install_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MICRO_PG_BINDIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError) as caught:
        ensure_binaries(install=False)
    message = str(caught.value)
    assert "PostgreSQL server, redis-server, psql not found" in message
    assert "apt-get install -y postgresql postgresql-client redis-server" in message


async def test_ledger_verify_reports_clean_then_tampered(create_db: CreateDb) -> None:
    dsn = await create_db("ledger")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO accounts (id, tenant_id, livemode, name, type, currency) "
            "VALUES ('acc_a', 't', false, 'a', 'asset', 'usd')"
        )
        env = {"MICRO_LEDGER_DATABASE_URL": dsn}
        clean = micro("ledger", "verify", env=env)
        assert clean.returncode == 0, clean.stderr
        assert "no discrepancies" in clean.stdout
        # Running totals edited by hand (accounts are not history, so this is allowed).
        await conn.execute("UPDATE accounts SET debits_posted = 5 WHERE id = 'acc_a'")
        tampered = micro("ledger", "verify", "--json", env=env)
        assert tampered.returncode == 1
        report = json.loads(tampered.stdout)
        kinds = {d["kind"] for d in report["discrepancies"]}
        assert {"account_totals", "unbalanced_books"} <= kinds
    finally:
        await conn.close()


def test_the_state_says_running_only_after_the_ready_lines(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Scripts and tests wait for the state file's "running" and then read the output: the
    ready lines must be out by then (a fresh-clone run once read the log in between)."""
    events: list[str] = []
    stop_handlers: list[Callable[[], None]] = []

    class RecordingStack:
        def __init__(self, settings: DevSettings) -> None:
            self.settings = settings

        def write_state(self, *, phase: str) -> None:
            events.append(f"state {phase}")
            if phase == "running":
                stop_handlers[0]()  # as a Ctrl-C would, once the stack is up

        async def start(self) -> None:
            events.append("started")

        def supervise(self) -> None:
            events.append("supervising")

        async def stop(self) -> None:
            events.append("stopped")

    monkeypatch.setattr(dev, "Stack", RecordingStack)
    monkeypatch.setattr(dev, "install_stop_handlers", stop_handlers.append)
    monkeypatch.setattr(dev, "_banner", lambda stack, seconds: events.append("ready lines"))
    settings = DevSettings(dir=tmp_path / ".micro")
    assert asyncio.run(dev._up(settings)) == 0
    assert events == [
        "state starting",
        "started",
        "supervising",
        "ready lines",
        "state running",
        "stopped",
    ]
