"""`micro dev up` survives a crash: a SIGKILLed app, Redis or PostgreSQL server is started
again (with backoff), the apps reconnect on their own, `micro dev status` counts the restarts,
a child that keeps exiting is reported as a crash loop, and Ctrl-C still stops everything.

One stack for the module (the tests run in order and each leaves it serving), its longest
backoff cut to 2 s so a crash loop retries within the test's patience.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.accounts import create_key, key_headers, register
from tests.e2e.stack import RunningStack, interrupt, leftovers, micro, running_stack
from tests.support.devstack import answers_ready, children, status_rows
from tests.support.polling import eventually
from tests.support.servers import scratch_dir

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with (
        scratch_dir("micro-restart-") as root,
        running_stack(root, {"MICRO_DEV_RESTART_DELAY_MAX": "2"}) as running,
    ):
        yield running


@pytest.fixture
def secret(stack: RunningStack) -> str:
    """A fresh API key per test: each has its own rate-limit budget."""
    with stack.client() as gw:
        key: str = create_key(gw, register(gw))["secret"]
    return key


def child(stack: RunningStack, name: str) -> dict[str, Any]:
    return children(stack.state())[name]


def restarts(stack: RunningStack) -> dict[str, int]:
    return {name: entry["restarts"] for name, entry in children(stack.state()).items()}


def kill(stack: RunningStack, name: str) -> int:
    pid = int(child(stack, name)["pid"])
    os.kill(pid, signal.SIGKILL)
    return pid


def exits_in_a_row(reason: str) -> int:
    """The count in a crash loop's reason, "exited during start-up N times in a row"."""
    found = re.fullmatch(r"exited during start-up (\d+) times in a row", reason)
    assert found is not None, reason
    return int(found[1])


def started_again(stack: RunningStack, name: str, old_pid: int) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        entry = child(stack, name)
        return entry if entry["pid"] != old_pid else None

    return eventually(check, what=f"{name} started again")


def pay(gw: httpx.Client, secret: str) -> httpx.Response:
    return gw.post(
        "/payments/payment_intents",
        json={"amount": 1200, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True},
        headers=key_headers(secret),
    )


def status(stack: RunningStack) -> subprocess.CompletedProcess[str]:
    return micro("dev", "status", env=stack.env)


def test_a_killed_service_is_started_again_and_serves(stack: RunningStack, secret: str) -> None:
    old = kill(stack, "payments")
    entry = started_again(stack, "payments", old)
    eventually(lambda: answers_ready(entry["port"]), what="payments ready again")
    with stack.client() as gw:
        response = pay(gw, secret)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded"
    assert "micro: payments exited with code -9; restart 1 in 0.5 s" in stack.output
    result = status(stack)
    rows = status_rows(result.stdout)
    assert (rows["payments"].state, rows["payments"].restarts) == ("ready", "1")
    assert result.returncode == 0, result.stdout
    assert {name for name, count in restarts(stack).items() if count} == {"payments"}


def test_a_killed_redis_is_started_again_and_the_apps_reconnect(
    stack: RunningStack, secret: str
) -> None:
    before = restarts(stack)
    old = kill(stack, "redis")
    started_again(stack, "redis", old)
    headers = key_headers(secret)
    with stack.client() as gw:
        eventually(lambda: gw.get("/health").status_code == 200, what="the gateway healthy")

        def remaining() -> int | None:
            value = gw.get("/ledger/accounts", headers=headers).headers.get("x-ratelimit-remaining")
            return int(value) if value is not None else None

        # The rate limit counts in Redis again, rather than letting everything through.
        first = eventually(remaining, what="a rate-limited answer")
        assert remaining() == first - 1
        # The outbox relay publishes to the new Redis, and the events service consumes it.
        intent = pay(gw, secret).json()
        assert intent["status"] == "succeeded"

        def logged() -> bool:
            listed = gw.get("/events", params={"type": "payment_intent.succeeded"}, headers=headers)
            return any(e["data"]["object"]["id"] == intent["id"] for e in listed.json()["data"])

        eventually(logged, what="the payment's event in the event log")
    # No app had to be restarted for it.
    assert restarts(stack) == {**before, "redis": before["redis"] + 1}
    assert status_rows(status(stack).stdout)["redis"].restarts == "1"


def test_a_killed_postgresql_server_comes_back_on_its_data(
    stack: RunningStack, secret: str
) -> None:
    before = restarts(stack)

    def accounts() -> str:
        return subprocess.run(
            ["psql", stack.dsn("ledger"), "-tAc", "select count(*) from accounts"],
            check=True, capture_output=True, text=True, timeout=30,
        ).stdout.strip()  # fmt: skip

    kept = accounts()
    assert int(kept) > 0  # the payments above opened accounts
    old = kill(stack, "ledger-db")
    started_again(stack, "ledger-db", old)
    # The ledger app was not restarted: its pool reconnects to the new server by itself.
    eventually(lambda: answers_ready(stack.http_ports["ledger"]), what="the ledger ready again")
    assert accounts() == kept
    with stack.client() as gw:
        answers = [gw.get("/ledger/accounts", headers=key_headers(secret)) for _ in range(5)]
    assert [r.status_code for r in answers] == [200] * 5, answers[-1].text
    assert restarts(stack) == {**before, "ledger-db": 1}
    rows = status_rows(status(stack).stdout)
    assert (rows["ledger-db"].state, rows["ledger-db"].restarts) == ("up", "1")
    assert rows["ledger"].state == "ready"


@contextlib.contextmanager
def squatting(port: int) -> Iterator[None]:
    """Something else listening on `port` (a child started there cannot bind it)."""
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

        def bound() -> bool:
            try:
                squatter.bind(("127.0.0.1", port))
            except OSError:
                return False
            return True

        eventually(bound, what=f"port {port} taken")
        squatter.listen()
        yield


def test_a_child_that_keeps_exiting_is_reported_as_a_crash_loop(
    stack: RunningStack, secret: str
) -> None:
    before = restarts(stack)
    port = stack.http_ports["wallet"]
    kill(stack, "wallet")
    with squatting(port):
        reason = eventually(lambda: child(stack, "wallet")["crash_loop"], what="a crash loop")
        # Three exits make the loop; it goes on every 2 s meanwhile, so a slow look (a loaded
        # CI machine) can already see a fourth.
        assert exits_in_a_row(reason) >= 3, reason
        assert re.search(
            r"^micro: wallet exited with code 1; restart \d+ in 2 s "
            r"\(crash loop: exited during start-up 3 times in a row\)$",
            stack.output,
            re.MULTILINE,
        ), stack.output[-3000:]
        result = status(stack)
        assert result.returncode == 1
        headline = result.stdout.splitlines()[0]
        assert headline.startswith(f"stack: running (pid {stack.process.pid}), crash loop: wallet;")
        # The gateway's /health says it too: one of its services is down.
        assert headline.endswith("not ready: gateway, wallet")
        assert status_rows(result.stdout)["wallet"].restarts.endswith(", crash loop")
        said = re.search(
            r"^wallet: crash loop \((.+?)\): still started again",
            result.stdout,
            re.MULTILINE,
        )
        assert said is not None, result.stdout
        assert exits_in_a_row(said[1]) >= 3, result.stdout
        # The rest keep serving.
        with stack.client() as gw:
            assert pay(gw, secret).json()["status"] == "succeeded"
        others = {name: count for name, count in restarts(stack).items() if name != "wallet"}
        assert others == {name: count for name, count in before.items() if name != "wallet"}
    # Still started again, every 2 s here: once the port is free it serves again.
    eventually(lambda: answers_ready(port), what="the wallet back")


def test_ctrl_c_while_a_restart_waits_stops_everything(stack: RunningStack) -> None:
    """Last: the stack goes. The wallet, still counted in a crash loop, waits the longest
    backoff before its next start; the stop lands in that wait and nothing starts after."""
    every = [int(entry["pid"]) for entry in children(stack.state()).values()]
    kill(stack, "wallet")
    eventually(
        lambda: stack.output.count("micro: wallet exited with code -9") == 2,
        what="the wallet's exit noticed",
    )
    pids = interrupt(stack)
    assert stack.process.returncode == 0, stack.output[-3000:]
    assert stack.output.rstrip().endswith("micro: stopped")
    alive, held = leftovers(stack, sorted({*every, *pids}))
    assert (alive, held) == ([], [])
