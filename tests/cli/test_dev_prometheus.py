"""`micro dev up --with-prometheus`: Prometheus from Debian's package as a process of the
stack, its config, rules and data under the stack's folder, scraping every app by the job
names of deploy/prometheus/prometheus.yml with the shipped rules; named in the ready line and
in `micro dev status`; `micro dev down` stops it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from cli.stack import binaries
from cli.stack.errors import StackError
from cli.stack.ports import free_port, port_is_free
from cli.stack.prometheus import RULES_DIR, render_rules
from cli.stack.stack import pid_alive
from shared.settings import APPS
from tests.e2e.stack import RunningStack, micro, running_stack
from tests.support.devstack import status_rows
from tests.support.polling import eventually
from tests.support.servers import scratch_dir

runner = CliRunner()

SHIPPED = (RULES_DIR / "micro.yml").read_text()


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    settings = {"MICRO_DEV_PROMETHEUS_PORT": str(free_port()), "MICRO_DEV_PROMETHEUS_INTERVAL": "1"}
    with (
        scratch_dir("micro-prometheus-") as root,
        running_stack(root, settings, args=("--with-prometheus",)) as running,
    ):
        yield running


def prometheus(stack: RunningStack) -> httpx.Client:
    port = stack.env["MICRO_DEV_PROMETHEUS_PORT"]
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)


def api(stack: RunningStack, path: str) -> Any:
    with prometheus(stack) as client:
        response = client.get(path)
    assert response.status_code == 200, response.text
    return response.json()["data"]


# -- the binaries ----------------------------------------------------------------------------


def test_deps_for_the_tests_names_prometheus_and_promtool() -> None:
    result = runner.invoke(app, ["dev", "deps", "--browser"])
    assert result.exit_code == 0, result.output
    found = binaries.find_prometheus()
    assert found is not None
    assert f"prometheus: {found.prometheus}" in result.output
    assert f"promtool:   {found.promtool}" in result.output


def test_a_missing_prometheus_is_installed_with_apt_as_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    installed: list[tuple[str, ...]] = []
    monkeypatch.setattr(binaries, "can_apt_install", lambda: True)
    monkeypatch.setattr(binaries, "apt_install", installed.append)
    with pytest.raises(StackError, match="apt-get install -y prometheus"):
        binaries.ensure_prometheus()
    assert installed == [("prometheus",)]


def test_a_missing_prometheus_is_explained_when_not_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(binaries, "can_apt_install", lambda: False)
    with pytest.raises(StackError, match="prometheus and promtool not found"):
        binaries.ensure_prometheus()


# -- the rules it is given (no stack) ---------------------------------------------------------


def test_the_rules_are_the_shipped_ones_when_nothing_is_lowered() -> None:
    assert render_rules(SHIPPED, for_=None, thresholds={}) == SHIPPED


def test_lowering_changes_only_the_waits_and_the_named_threshold() -> None:
    rendered = render_rules(SHIPPED, for_="1s", thresholds={"LedgerPostingStuck": 1})
    shipped = {r["alert"]: r for g in yaml.safe_load(SHIPPED)["groups"] for r in g["rules"]}
    lowered = {r["alert"]: r for g in yaml.safe_load(rendered)["groups"] for r in g["rules"]}
    assert lowered["LedgerPostingStuck"]["expr"] == (
        shipped["LedgerPostingStuck"]["expr"].replace("> 300", "> 1")
    )
    for name, rule in shipped.items():
        assert lowered[name].get("for") == ("1s" if "for" in rule else None)
        if name != "LedgerPostingStuck":
            assert lowered[name]["expr"] == rule["expr"]


def test_an_unknown_alert_to_lower_is_refused() -> None:
    with pytest.raises(StackError, match="no such alert"):
        render_rules(SHIPPED, for_=None, thresholds={"NoSuchAlert": 1})


# -- a stack with Prometheus ------------------------------------------------------------------


def test_the_ready_line_names_prometheus_and_its_url(stack: RunningStack) -> None:
    port = stack.env["MICRO_DEV_PROMETHEUS_PORT"]
    assert f"prometheus http://localhost:{port} (alerts: http://localhost:{port}/alerts" in (
        stack.output
    )


def test_it_scrapes_every_replica_by_the_apps_job_names(stack: RunningStack) -> None:
    def all_up() -> dict[str, str] | None:
        targets = api(stack, "/api/v1/targets")["activeTargets"]
        found = {t["labels"]["job"]: t["scrapeUrl"] for t in targets if t["health"] == "up"}
        return found if set(found) == set(APPS) else None

    scraped = eventually(all_up, within=20, what="every app scraped")
    assert scraped["gateway"] == f"http://127.0.0.1:{stack.metrics_port}/metrics"
    for name in APPS:
        if name != "gateway":
            assert scraped[name] == f"http://127.0.0.1:{stack.http_ports[name]}/metrics"


def test_it_evaluates_the_shipped_rules_from_the_stacks_folder(stack: RunningStack) -> None:
    groups = api(stack, "/api/v1/rules")["groups"]
    loaded = {rule["name"] for group in groups for rule in group["rules"]}
    shipped = {r["alert"] for g in yaml.safe_load(SHIPPED)["groups"] for r in g["rules"]}
    assert loaded == shipped
    folder = stack.root / ".micro" / "prometheus"
    assert {group["file"] for group in groups} == {str(folder / "rules" / "micro.yml")}
    assert (folder / "data").is_dir()


def test_every_metric_the_rules_use_is_scraped_from_the_apps(stack: RunningStack) -> None:
    """A metric renamed in the code breaks this, not the alert (which would never fire)."""
    used = {
        name
        for group in yaml.safe_load(SHIPPED)["groups"]
        for rule in group["rules"]
        for name in re.findall(r"\b(micro_[a-z_]+)", rule["expr"])
    }

    def all_known() -> set[str] | None:
        known = set(api(stack, "/api/v1/metadata"))
        return known if used <= known else None

    known = eventually(all_known, within=20, what=f"Prometheus scraping {sorted(used)}")
    assert used <= known


def test_status_lists_prometheus(stack: RunningStack) -> None:
    result = micro("dev", "status", env=stack.env)
    row = status_rows(result.stdout)["prometheus"]
    assert (row.port, row.state) == (int(stack.env["MICRO_DEV_PROMETHEUS_PORT"]), "up")


def test_down_stops_prometheus(stack: RunningStack) -> None:
    pid = int(stack.state()["children"]["prometheus"])
    result = micro("dev", "down", env=stack.env)
    assert result.returncode == 0, result.stderr
    stack.process.wait(30)
    assert not pid_alive(pid)
    assert port_is_free(int(stack.env["MICRO_DEV_PROMETHEUS_PORT"]))
