"""`micro dev up` end to end: real PostgreSQL x5, Redis, five services and the gateway."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from shared import secrets
from shared.settings import SERVICES, app_role
from tests.e2e.stack import (
    RunningStack,
    interrupt,
    leftovers,
    micro,
    processes_under,
    running_stack,
    stack_env,
)
from tests.support.asgi import identity_headers
from tests.support.servers import scratch_dir

pytestmark = pytest.mark.e2e


def test_gateway_health_reports_every_service_ready(stack: RunningStack) -> None:
    response = httpx.get(f"{stack.gateway}/health")
    assert response.status_code == 200
    assert response.json()["services"] == dict.fromkeys(SERVICES, "ready")


@pytest.mark.parametrize("service", SERVICES)
def test_psql_reaches_each_service_database(stack: RunningStack, service: str) -> None:
    psql = shutil.which("psql")
    assert psql, "psql is installed with the PostgreSQL client package"
    result = subprocess.run(
        [psql, stack.dsn(service), "-tAc", "select current_database()"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == service


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_connects_as_its_own_role(stack: RunningStack, service: str) -> None:
    """The apps' connections, as PostgreSQL sees them: the app's role, never the owner."""
    result = subprocess.run(
        ["psql", stack.dsn(service), "-tAc",
         "select string_agg(distinct usename, ',') from pg_stat_activity"
         " where datname = current_database() and pid <> pg_backend_pid()"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == app_role(service)


def test_micro_psql_runs_a_command(stack: RunningStack) -> None:
    result = micro("psql", "ledger", "-c", "select count(*) from accounts", env=stack.env)
    assert result.returncode == 0, result.stderr
    assert "count" in result.stdout


@pytest.mark.parametrize("service", SERVICES)
def test_service_port_refuses_requests_without_identity(stack: RunningStack, service: str) -> None:
    response = httpx.get(f"{stack.url(service)}/anything")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "authentication_error"
    assert error["request_id"] == response.headers["x-request-id"]


def test_service_port_accepts_a_valid_identity(stack: RunningStack) -> None:
    headers = identity_headers(secret=stack.identity_key)
    response = httpx.get(f"{stack.url('ledger')}/ledger/accounts", headers=headers)
    assert response.status_code == 200
    assert response.json()["object"] == "list"


def test_errors_from_a_real_process_use_the_shared_shape(stack: RunningStack) -> None:
    headers = identity_headers(secret=stack.identity_key)
    unknown = httpx.get(f"{stack.url('payments')}/nope", headers=headers)
    wrong_method = httpx.delete(f"{stack.url('ledger')}/ledger/accounts", headers=headers)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "route_not_found")
    assert (wrong_method.status_code, wrong_method.json()["error"]["code"]) == (
        405,
        "method_not_allowed",
    )


def test_the_stack_keeps_its_own_secrets_private(stack: RunningStack) -> None:
    path = stack.root / ".micro" / "secrets.env"
    assert path.stat().st_mode & 0o777 == 0o600
    values = stack.secrets
    assert {p.env for p in secrets.PURPOSES} <= set(values)
    # Nothing the test process made up: the stack's services trust only their own key.
    forged = identity_headers(secret=secrets.generate()[secrets.IDENTITY.env])
    response = httpx.get(f"{stack.url('ledger')}/ledger/accounts", headers=forged)
    assert response.status_code == 401


def test_gateway_metrics_are_on_the_internal_port_only(stack: RunningStack) -> None:
    public = httpx.get(f"{stack.gateway}/metrics")
    internal = httpx.get(f"http://127.0.0.1:{stack.metrics_port}/metrics")
    assert public.status_code == 404
    assert internal.status_code == 200
    assert "micro_http_requests_total" in internal.text


def test_status_from_another_shell(stack: RunningStack) -> None:
    result = micro("dev", "status", env=stack.env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stack: running" in result.stdout
    assert result.stdout.count("ready") == 6


def test_status_and_logs_from_another_directory(stack: RunningStack, tmp_path: Path) -> None:
    status = micro("dev", "status", env=stack.elsewhere_env(), cwd=tmp_path)
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.startswith("stack: running")
    assert status.stdout.count(" ready") == 6
    assert "PART" in status.stdout
    logs = micro("dev", "logs", "ledger", "-n", "5", env=stack.elsewhere_env(), cwd=tmp_path)
    assert logs.returncode == 0, logs.stderr
    assert '"service": "ledger"' in logs.stdout


def test_logs_from_another_shell(stack: RunningStack) -> None:
    result = micro("dev", "logs", "ledger", "-n", "5", env=stack.env)
    assert result.returncode == 0
    assert '"service": "ledger"' in result.stdout


def test_restart_reuses_data_and_ctrl_c_leaves_nothing() -> None:
    with scratch_dir("micro-e2e-restart-") as root:
        with running_stack(root) as first:
            kept = dict(first.secrets)
            subprocess.run(
                ["psql", first.dsn("ledger"), "-c",
                 "insert into accounts (id, tenant_id, livemode, name, type, currency) "
                 "values ('acc_kept', 'ten_x', false, 'kept', 'asset', 'usd')"],
                check=True, capture_output=True, timeout=30,
            )  # fmt: skip
            children = interrupt(first)
            assert first.process.returncode == 0, first.output
            alive, held = leftovers(first, children)
            assert (alive, held) == ([], [])
            assert "applied 0001_accounts.sql" in first.output
        (root / "up.log").write_text("")
        with running_stack(root) as second:
            row = subprocess.run(
                ["psql", second.dsn("ledger"), "-tAc", "select name from accounts"],
                check=True, capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert row.stdout.strip() == "kept"
            assert second.secrets == kept  # made once per data directory, then reused
            assert "applied" not in second.output
            # Someone edits history: the next start must refuse, saying what and how to fix.
            subprocess.run(
                ["psql", second.dsn("ledger"), "-c",
                 "update schema_migrations set checksum = 'edited' where version = 1"],
                check=True, capture_output=True, timeout=30,
            )  # fmt: skip
            children = interrupt(second)
            alive, held = leftovers(second, children)
            assert (alive, held) == ([], [])
        result = micro("dev", "up", env=second.env)
        assert result.returncode == 1
        errors = [line for line in result.stderr.splitlines() if line.startswith("micro: error")]
        assert errors == [
            "micro: error: migration failed: ledger: 0001_accounts.sql was edited after it was "
            "applied; restore the applied text and put the change in a new migration."
        ]
        assert processes_under(root) == []


def test_down_from_another_shell_stops_everything() -> None:
    with scratch_dir("micro-e2e-down-") as root, running_stack(root) as stack:
        children = [int(p) for p in stack.state()["children"].values()]
        elsewhere = root / "elsewhere"
        elsewhere.mkdir()
        result = micro("dev", "down", env=stack.elsewhere_env(), cwd=elsewhere)
        assert result.returncode == 0, result.stderr
        stack.process.wait(30)
        alive, held = leftovers(stack, children)
        assert (alive, held) == ([], [])
        # Its words and its exit code agree, and the record of the stack went with it.
        after = micro("dev", "status", env=stack.elsewhere_env(), cwd=elsewhere)
        assert (after.returncode, after.stdout.splitlines()[0]) == (3, "stack: stopped")
        assert not (root / "state" / "micro" / "stack.json").exists()


def test_a_taken_port_stops_start_up_with_one_clear_line() -> None:
    with scratch_dir("micro-e2e-port-") as root:
        env, _, db_ports, _ = stack_env(root)
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", db_ports["ledger"]))
            squatter.listen()
            began = time.monotonic()
            result = micro("dev", "up", env=env)
        assert result.returncode == 1
        assert time.monotonic() - began < 30
        lines = [line for line in result.stderr.splitlines() if line.startswith("micro: error")]
        assert lines == [
            f"micro: error: port {db_ports['ledger']} (ledger postgres) is already in use: "
            f"stop whatever holds it (`ss -ltnp 'sport = :{db_ports['ledger']}'` shows it; "
            "`micro dev down` if it is an earlier stack) and run again"
        ]
        assert not (root / ".micro" / "stack.json").exists()


def test_an_app_failing_at_start_up_stops_everything_already_started() -> None:
    with scratch_dir("micro-e2e-fail-") as root:
        env, _, _, _ = stack_env(root)
        env["MICRO_PAYMENTS_LOG_LEVEL"] = "LOUD"  # invalid: payments cannot start
        result = micro("dev", "up", env=env)
        assert result.returncode == 1
        errors = [line for line in result.stderr.splitlines() if line.startswith("micro: error")]
        assert errors == [
            f"micro: error: payments exited with code 1 during start-up; "
            f"see {root / '.micro' / 'logs' / 'payments.log'}"
        ]
        # The databases and Redis had started before payments failed: they are gone too.
        assert processes_under(root) == []
        assert not (root / ".micro" / "stack.json").exists()
