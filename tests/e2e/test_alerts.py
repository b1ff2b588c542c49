"""The stuck-posting alert, for real: a stack with Prometheus (`micro dev up
--with-prometheus`), the ledger stopped, a payment made, and Prometheus's own API saying
LedgerPostingStuck is FIRING for payments. Prometheus scrapes and evaluates every second and
the stack lowers the rule's wait and threshold (MICRO_DEV_PROMETHEUS_FOR/_THRESHOLDS, the
documented mechanism); the expression is otherwise the shipped one, which the test checks."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from cli.stack.ports import free_port, port_is_open
from cli.stack.prometheus import RULES_DIR
from tests.e2e.accounts import create_key, key_headers, register
from tests.e2e.stack import RunningStack, running_stack
from tests.support.polling import eventually
from tests.support.servers import scratch_dir

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    settings = {
        "MICRO_DEV_PROMETHEUS_PORT": str(free_port()),
        "MICRO_DEV_PROMETHEUS_INTERVAL": "1",
        "MICRO_DEV_PROMETHEUS_FOR": "1s",
        "MICRO_DEV_PROMETHEUS_THRESHOLDS": json.dumps({"LedgerPostingStuck": 1}),
        # A stopped ledger stays stopped for the test (the stack restarts what exits).
        "MICRO_DEV_RESTART_DELAY": "600",
    }
    with (
        scratch_dir("micro-alerts-") as root,
        running_stack(root, settings, args=("--with-prometheus",)) as running,
    ):
        yield running


def prometheus_api(stack: RunningStack, path: str) -> Any:
    port = stack.env["MICRO_DEV_PROMETHEUS_PORT"]
    response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def firing(stack: RunningStack, name: str) -> list[dict[str, Any]]:
    alerts = prometheus_api(stack, "/api/v1/alerts")["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == name and a["state"] == "firing"]


def stop_ledger(stack: RunningStack) -> None:
    pid = int(stack.state()["children"]["ledger"])
    os.killpg(pid, signal.SIGKILL)
    eventually(lambda: not port_is_open(stack.http_ports["ledger"]), what="the ledger gone")


def test_a_payment_with_the_ledger_stopped_fires_the_stuck_posting_alert(
    stack: RunningStack,
) -> None:
    with stack.client() as gw:
        owner = register(gw)
        headers = key_headers(create_key(gw, owner)["secret"])
        stop_ledger(stack)
        # Nothing owed yet: the alert is quiet while the ledger is down.
        assert not firing(stack, "LedgerPostingStuck")
        intent = gw.post(
            "/payments/payment_intents", json={"amount": 2500, "currency": "usd"}, headers=headers
        ).json()
        confirmed = gw.post(
            f"/payments/payment_intents/{intent['id']}/confirm",
            json={"payment_method": "pm_card_visa"},
            headers=headers,
        )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "succeeded"

    (alert,) = eventually(
        lambda: firing(stack, "LedgerPostingStuck"), within=30, what="LedgerPostingStuck firing"
    )
    assert alert["labels"]["service"] == "payments"
    assert alert["labels"]["severity"] == "critical"
    assert "GET /payments/ledger_outbox" in alert["annotations"]["description"]


def test_the_rule_that_fired_is_the_shipped_one_with_its_threshold_lowered(
    stack: RunningStack,
) -> None:
    groups = prometheus_api(stack, "/api/v1/rules")["groups"]
    (evaluated,) = [r for g in groups for r in g["rules"] if r["name"] == "LedgerPostingStuck"]
    shipped = yaml.safe_load((RULES_DIR / "micro.yml").read_text())
    (rule,) = [
        r for g in shipped["groups"] for r in g["rules"] if r["alert"] == "LedgerPostingStuck"
    ]
    assert evaluated["query"] == rule["expr"].replace("> 300", "> 1")
    assert evaluated["duration"] == 1
