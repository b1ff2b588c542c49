"""The alert rules of deploy/prometheus/: valid (`promtool check`), unit-tested (`promtool test
rules`: every alert seen firing and seen quiet), written against the metrics the apps export,
each saying what to look at, and the same rules on Kubernetes as in compose and the local
stack. promtool is Debian's `prometheus` package (`micro dev deps --browser` installs it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli.stack.binaries import find_prometheus

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules" / "micro.yml"
RULE_TESTS = PROMETHEUS / "rules" / "tests.yml"
K8S_RULES = ROOT / "deploy" / "k8s" / "prometheus" / "rules.yaml"
COMPOSE = ROOT / "docker-compose.yml"

# What the apps export (docs: the README's metrics table); Prometheus's own `up` besides.
METRICS = {
    "micro_http_requests_total",
    "micro_http_request_duration_seconds",
    "micro_ledger_postings_failed",
    "micro_ledger_postings_refused_total",
    "micro_ledger_postings_pending",
    "micro_ledger_postings_oldest_pending_seconds",
    "micro_outbox_pending",
    "micro_outbox_oldest_pending_seconds",
    "micro_webhook_deliveries_pending",
    "micro_webhook_deliveries_total",
    "micro_gateway_redis_unavailable_total",
    "micro_ledger_verify_discrepancies",
    "micro_ledger_verify_last_success_timestamp_seconds",
}
# Each of these must have an alert (issue #18.3).
WANTED = {
    "LedgerPostingRefused",
    "LedgerPostingStuck",
    "OutboxStuck",
    "WebhookDeliveryBacklogGrowing",
    "AppDown",
    "HighErrorRate",
    "GatewayRedisUnavailable",
    "LedgerVerifyDiscrepancy",
    "LedgerVerifyNotRun",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    found = find_prometheus()
    assert found is not None, "promtool not found: `micro dev deps --browser` installs it"
    return subprocess.run(
        [str(found.promtool), *args],
        cwd=RULES.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def k8s_rules_configmap() -> str:
    """deploy/k8s/prometheus/rules.yaml as it must read: its header, then micro.yml inline."""
    text = K8S_RULES.read_text()
    head = text[: text.index("\ndata:\n")] + "\ndata:\n  micro.yml: |\n"
    body = "".join(
        "    " + line if line.strip() else "\n"
        for line in RULES.read_text().splitlines(keepends=True)
    )
    return head + body


def test_promtool_checks_the_rules() -> None:
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_promtool_checks_the_compose_config_and_its_rule_files() -> None:
    result = promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["rules/micro.yml"]


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    checks = [check for case in cases for check in case["alert_rule_test"]]
    names = {rule["alert"] for rule in alerts()}
    assert names >= WANTED
    for name in names:
        seen = [bool(c["exp_alerts"]) for c in checks if c["alertname"] == name]
        assert True in seen, f"{name} is never tested firing"
        assert False in seen, f"{name} is never tested quiet"


@pytest.mark.parametrize("name", sorted(WANTED))
def test_each_alert_has_a_severity_and_says_what_to_look_at(name: str) -> None:
    (rule,) = [rule for rule in alerts() if rule["alert"] == name]
    assert rule["labels"]["severity"] in {"critical", "warning"}
    assert rule["annotations"]["summary"]
    description = rule["annotations"]["description"]
    # A micro command or an API path, in backquotes.
    assert re.search(r"`(micro [a-z]|(GET|POST) /)", description), description


def test_the_rules_use_only_metrics_the_apps_export() -> None:
    for rule in alerts():
        used = set(re.findall(r"\b(micro_[a-z_]+)", rule["expr"]))
        assert used <= METRICS, (rule["alert"], used - METRICS)
    assert {"up"} <= {
        word for rule in alerts() for word in re.findall(r"\b([a-z_]+)\b", rule["expr"])
    }


def test_each_threshold_is_the_last_comparison_of_its_expression() -> None:
    """What `micro dev up --with-prometheus` lowers (MICRO_DEV_PROMETHEUS_THRESHOLDS)."""
    for rule in alerts():
        assert re.search(r"(>|==)\s*[0-9.]+\s*\)?\s*(or absent\(.*\))?$", rule["expr"]), rule


def test_kubernetes_gets_the_same_rules() -> None:
    assert K8S_RULES.read_text() == k8s_rules_configmap(), (
        f"regenerate: {sys.executable} -m tests.deploy.test_prometheus_rules"
    )
    config = yaml.safe_load(K8S_RULES.read_text())
    assert config["kind"] == "ConfigMap"
    assert config["metadata"]["namespace"] == "monitoring"
    assert yaml.safe_load(config["data"]["micro.yml"]) == yaml.safe_load(RULES.read_text())


def test_compose_mounts_the_config_and_the_rules() -> None:
    volumes = yaml.safe_load(COMPOSE.read_text())["services"]["prometheus"]["volumes"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in volumes
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in volumes


if __name__ == "__main__":
    K8S_RULES.write_text(k8s_rules_configmap())
