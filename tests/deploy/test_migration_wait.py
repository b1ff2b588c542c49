"""`micro db wait SERVICE`: a service pod's init container, so no replica serves a schema
the migration Job has not finished (deploy/k8s). It reads as the app's own role."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from shared.migrations import migrate_service
from shared.settings import app_role
from tests.support.secrets import TEST_SECRETS
from tests.support.servers import PostgresHandle


def _wait(pg: PostgresHandle, database: str, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "db", "wait", "ledger", "--timeout", str(seconds)],
        env={
            **os.environ,
            **TEST_SECRETS,
            "MICRO_LEDGER_DATABASE_URL": pg.app_dsn("ledger", database),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = await asyncio.to_thread(process.communicate, timeout=90)
    return process.returncode, out, err


async def test_an_unmigrated_database_is_waited_on_then_refused(pg: PostgresHandle) -> None:
    await pg.create_database("wait_never")
    code, out, err = await _finish(_wait(pg, "wait_never", 1))
    assert code == 1
    assert "micro: ledger: not migrated after 1 s (still pending: 0001_" in err, err
    assert out == ""


async def test_the_wait_ends_when_the_migration_job_has_run(pg: PostgresHandle) -> None:
    await pg.create_database("wait_then_go")
    waiting = _wait(pg, "wait_then_go", 60)
    # The Job runs while the init container waits.
    await asyncio.sleep(1.5)
    assert waiting.poll() is None
    await migrate_service("ledger", pg.dsn("wait_then_go"), app_role=app_role("ledger"))
    code, out, err = await _finish(waiting)
    assert (code, out.strip()) == (0, "ledger: every migration applied"), err


def test_an_unreachable_database_is_named_without_its_password() -> None:
    process = subprocess.run(
        [sys.executable, "-m", "cli", "db", "wait", "ledger", "--timeout", "0"],
        env={
            **os.environ,
            **TEST_SECRETS,
            "MICRO_LEDGER_DATABASE_URL": "postgres://ledger_app:s3cret@127.0.0.1:1/ledger",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert process.returncode == 1
    assert "cannot reach postgres://ledger_app:***@127.0.0.1:1/ledger" in process.stderr
    assert "s3cret" not in process.stderr
