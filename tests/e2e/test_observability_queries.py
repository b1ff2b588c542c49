"""Every query in every Grafana panel and every alert rule names metrics and labels the apps
really expose, read from a running stack's /metrics; and every panel's query is PromQL that
Prometheus's own parser accepts (`promtool check rules`). A renamed metric or label breaks
this test, not a dashboard nobody is looking at."""

from __future__ import annotations

import importlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from cli.stack.binaries import find_prometheus
from shared.settings import APPS, SERVICES
from tests.e2e.stack import RunningStack
from tests.support.promql import Reads, grafana_to_promql, reads, template_reads
from tests.support.servers import scratch_dir

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
RULES = ROOT / "deploy" / "prometheus" / "rules" / "micro.yml"
# Labels Prometheus attaches to every scraped series itself.
TARGET_LABELS = {"job", "instance"}
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count")}


@dataclass(frozen=True)
class Query:
    where: str  # dashboard and panel, or rule
    expr: str
    reads: Reads


def panel_queries() -> Iterator[Query]:
    for path in DASHBOARDS:
        board: dict[str, Any] = json.loads(path.read_text())
        for variable in board.get("templating", {}).get("list", []):
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            yield Query(f"{path.stem}: ${variable['name']}", text, template_reads(text))
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                expr = grafana_to_promql(target["expr"])
                yield Query(f"{path.stem}: {panel['title']}", expr, reads(expr))


def rule_queries() -> Iterator[Query]:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule["record"]
            yield Query(f"rule {name}", rule["expr"], reads(rule["expr"]))


def declared_labels() -> dict[str, set[str]]:
    """Each metric's label names as its code declares them: for a labelled counter no code
    path has touched yet, /metrics shows only its HELP and TYPE lines, with no sample whose
    labels could be read. Importing every app makes every metric of the code exist here."""
    for app in APPS:
        importlib.import_module("gateway.app" if app == "gateway" else f"services.{app}.app")
    declared: dict[str, set[str]] = {}
    for name, collector in REGISTRY._names_to_collectors.items():
        declared[name] = set(getattr(collector, "_labelnames", ()))
    return declared


def exposed(stack: RunningStack) -> dict[str, set[str]]:
    """Every series name the stack's apps expose (histogram and counter suffixes included),
    with the label names seen on its samples (or, with none yet, those its code declares)."""
    urls = [f"{stack.url(app)}/metrics" for app in SERVICES]
    urls.append(f"http://127.0.0.1:{stack.metrics_port}/metrics")  # the gateway's listener
    declared = declared_labels()
    found: dict[str, set[str]] = {"up": set()}
    for url in urls:
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200, url
        for family in text_string_to_metric_families(response.text):
            names = {family.name, *(family.name + s for s in SUFFIXES.get(family.type, ()))}
            labels = {label for sample in family.samples for label in sample.labels}
            if not family.samples:
                labels = declared.get(family.name, set()) | (
                    {"le"} if family.type == "histogram" else set()
                )
            for name in names:
                found.setdefault(name, set()).update(labels)
    return found


def problems(query: Query, series: dict[str, set[str]]) -> list[str]:
    found: list[str] = []
    known_labels = set(TARGET_LABELS)
    for metric, matchers in query.reads.selectors.items():
        if metric not in series:
            found.append(f"{query.where}: no app exposes {metric}")
            continue
        known_labels |= series[metric]
        if unknown := matchers - series[metric] - TARGET_LABELS:
            found.append(f"{query.where}: {metric} has no label {sorted(unknown)}")
    if unknown := query.reads.grouping - known_labels:
        found.append(f"{query.where}: grouped by {sorted(unknown)}, which no metric of it has")
    return found


@pytest.fixture(scope="module")
def series(stack: RunningStack) -> dict[str, set[str]]:
    return exposed(stack)


def test_every_panel_reads_what_the_apps_expose(series: dict[str, set[str]]) -> None:
    queries = list(panel_queries())
    assert {q.where.split(":")[0] for q in queries} == {path.stem for path in DASHBOARDS}
    assert [p for q in queries for p in problems(q, series)] == []


def test_every_alert_rule_reads_what_the_apps_expose(series: dict[str, set[str]]) -> None:
    queries = list(rule_queries())
    assert queries
    assert [p for q in queries for p in problems(q, series)] == []


def test_a_renamed_metric_or_label_is_caught(series: dict[str, set[str]]) -> None:
    # What the two tests above would say after a rename in the code (the check is not vacuous).
    renamed = Query(
        "x", "", reads('sum by (code) (rate(micro_payment_intent_total{mode="live"}[5m]))')
    )
    assert problems(renamed, series) == [
        "x: no app exposes micro_payment_intent_total",
        "x: grouped by ['code'], which no metric of it has",
    ]
    relabelled = Query("x", "", reads('micro_payment_intents_total{state="succeeded"}'))
    assert problems(relabelled, series) == ["x: micro_payment_intents_total has no label ['state']"]


def test_every_panel_query_is_promql_prometheus_accepts() -> None:
    binaries = find_prometheus()
    assert binaries is not None, "promtool not found: `micro dev deps --browser` installs it"
    rules = [
        {"record": f"grafana:panel_{number}", "expr": query.expr}
        for number, query in enumerate(panel_queries())
        if not query.expr.startswith("label_values(")
    ]
    with scratch_dir("micro-grafana-") as folder:
        path = folder / "panels.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
        result = subprocess.run(
            [str(binaries.promtool), "check", "rules", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
