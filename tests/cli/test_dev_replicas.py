"""`micro dev up --replicas 2`: two processes of every app, gateways included, each on its own
port, each caller given every replica of what it calls; the state file, the ready line and
`micro dev status` list them all."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from cli.main import app
from cli.stack.config import DevSettings
from cli.stack.errors import StackError
from cli.stack.ports import free_port, port_is_open
from cli.stack.replicas import Replica, plan_replicas
from cli.stack.stack import Stack, pid_alive
from shared.settings import APPS, SERVICES
from tests.e2e.accounts import create_key, key_headers, register
from tests.e2e.stack import RunningStack, interrupt, leftovers, micro, running_stack
from tests.support.devstack import StatusRow, answers_ready, children, status_rows
from tests.support.polling import eventually
from tests.support.servers import scratch_dir

runner = CliRunner()


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with (
        scratch_dir("micro-replicas-") as root,
        running_stack(root, {"MICRO_DEV_REPLICAS": "2"}) as running,
    ):
        yield running


def replicas(stack: RunningStack) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = stack.state()["replicas"]
    return found


def environ(pid: int) -> dict[str, str]:
    """A running process's environment, as the kernel keeps it."""
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (item.decode().partition("=") for item in raw if item)
    return {name: value for name, _, value in pairs}


# -- the plan (no stack) ----------------------------------------------------------------------


def test_replica_one_keeps_the_configured_ports_and_the_others_take_free_ones() -> None:
    http = {name: free_port() for name in APPS}
    settings = DevSettings(http_ports=http, metrics_port=free_port(), replicas=3)
    # Something already listens just above the highest configured port: it is skipped.
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", max(http.values()) + 1))
        squatter.listen()
        plan = plan_replicas(settings)
        taken = squatter.getsockname()[1]
    assert list(plan) == list(APPS)
    for name in APPS:
        assert [r.name for r in plan[name]] == [name, f"{name}-2", f"{name}-3"]
        assert plan[name][0].port == http[name]
    ports = [r.port for rs in plan.values() for r in rs]
    metrics = [r.metrics_port for r in plan["gateway"]]
    assert len(set(ports)) == 18
    assert taken not in ports
    assert metrics[0] == settings.metrics_port
    assert len({*metrics, *ports}) == 21
    assert all(r.metrics_port is None for name in SERVICES for r in plan[name])


async def _serving(root: Path, port: int, *paths: str) -> asyncio.subprocess.Process:
    """A plain HTTP server answering 200 on each of `paths`, and 404 elsewhere."""
    for path in paths:
        (root / path).write_text("ok")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
        "--directory", str(root), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.to_thread(eventually, lambda: port_is_open(port), what="the server")
    return process


async def test_a_gateway_is_started_only_once_its_metrics_listener_answers(
    tmp_path: Path,
) -> None:
    # A gateway that cannot bind its metrics port exits just after its app answered /ready;
    # counted as started then, it would crash-loop behind a stack that says "running".
    port = free_port()
    settings = DevSettings(
        http_ports={name: free_port() for name in APPS}, metrics_port=free_port(),
        start_timeout=1.5, dir=tmp_path / ".micro",
    )  # fmt: skip
    stack = Stack(settings, echo=False)
    process = await _serving(tmp_path, port, "ready", "metrics")
    try:
        silent = Replica("gateway", 2, port, metrics_port=free_port())
        with pytest.raises(StackError, match=f"127.0.0.1:{silent.metrics_port}/metrics"):
            await stack._probe(silent)(process)
        # Both listeners answering (here one server on one port): started.
        both = stack._probe(Replica("gateway", 2, port, metrics_port=port))
        await both(process)
    finally:
        process.kill()
        await process.wait()
    # The same child started again (its probe is kept for every restart), and now only its
    # app answers: not started, however the first start went.
    (tmp_path / "metrics").unlink()
    process = await _serving(tmp_path, port, "ready")
    try:
        with pytest.raises(StackError, match=f"127.0.0.1:{port}/metrics"):
            await both(process)
    finally:
        process.kill()
        await process.wait()


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["dev", "up", "--replicas", "0"], {}, "--replicas"),
        (["dev", "up"], {"MICRO_DEV_REPLICAS": "0"}, "MICRO_DEV_REPLICAS"),
    ],
)
def test_a_replica_count_below_one_is_refused(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    result = runner.invoke(app, args, env={"MICRO_DEV_DIR": str(tmp_path / ".micro"), **env})
    assert result.exit_code in (1, 2)
    assert expected in result.output
    assert not (tmp_path / ".micro" / "stack.json").exists()


# -- a stack of two ---------------------------------------------------------------------------


@pytest.mark.e2e
def test_the_state_file_lists_two_processes_of_every_app(stack: RunningStack) -> None:
    state = stack.state()
    assert state["replica_count"] == 2
    found = replicas(stack)
    assert list(found) == list(APPS)
    for name in APPS:
        assert [r["name"] for r in found[name]] == [name, f"{name}-2"]
        assert found[name][0]["port"] == stack.http_ports[name]
        assert [r["restarts"] for r in found[name]] == [0, 0]
    # Today's readers still find replica 1 where they always did.
    assert state["http_ports"] == stack.http_ports
    pids = [r["pid"] for rs in found.values() for r in rs]
    ports = [r["port"] for rs in found.values() for r in rs]
    assert len(set(pids)) == len(set(ports)) == 12
    assert all(pid_alive(pid) for pid in pids)
    assert state["children"] == {name: c["pid"] for name, c in children(state).items()}


@pytest.mark.e2e
@pytest.mark.parametrize("service", SERVICES)
def test_each_replica_answers_on_its_own_port(stack: RunningStack, service: str) -> None:
    for entry in replicas(stack)[service]:
        response = httpx.get(f"http://127.0.0.1:{entry['port']}/ready", timeout=10)
        assert response.status_code == 200, (entry, response.text)
        assert response.json()["service"] == service


@pytest.mark.e2e
def test_each_gateway_answers_and_has_its_own_metrics_port(stack: RunningStack) -> None:
    gateways = replicas(stack)["gateway"]
    assert gateways[0]["metrics_port"] == stack.metrics_port
    assert gateways[0]["metrics_port"] != gateways[1]["metrics_port"]
    for entry in gateways:
        assert answers_ready(entry["port"])
        metrics = httpx.get(f"http://127.0.0.1:{entry['metrics_port']}/metrics", timeout=10)
        assert metrics.status_code == 200
        assert "micro_http_requests_total" in metrics.text


@pytest.mark.e2e
def test_every_caller_is_given_every_replica_of_what_it_calls(stack: RunningStack) -> None:
    found = replicas(stack)

    def urls(service: str) -> str:
        return ",".join(f"http://127.0.0.1:{r['port']}" for r in found[service])

    for gateway in found["gateway"]:
        env = environ(gateway["pid"])
        for service in SERVICES:
            assert env[f"MICRO_GATEWAY_{service.upper()}_URL"] == urls(service)
        assert env["MICRO_GATEWAY_PORT"] == str(gateway["port"])
        assert env["MICRO_GATEWAY_METRICS_PORT"] == str(gateway["metrics_port"])
    payments = environ(found["payments"][1]["pid"])
    assert payments["MICRO_PAYMENTS_LEDGER_URL"] == urls("ledger")
    assert payments["MICRO_PAYMENTS_PORT"] == str(found["payments"][1]["port"])
    wallet = environ(found["wallet"][1]["pid"])
    assert wallet["MICRO_WALLET_LEDGER_URL"] == urls("ledger")
    assert wallet["MICRO_WALLET_PAYMENTS_URL"] == urls("payments")


@pytest.mark.e2e
def test_each_replica_logs_to_its_own_file(stack: RunningStack) -> None:
    logs = stack.root / ".micro" / "logs"
    for name in APPS:
        service = "gateway" if name == "gateway" else name
        for log in (logs / f"{name}.log", logs / f"{name}-2.log"):
            assert f'"service": "{service}"' in log.read_text(), log


@pytest.mark.e2e
def test_the_ready_line_names_every_gateway_and_replica(stack: RunningStack) -> None:
    found = replicas(stack)
    gateways = ", ".join(f"http://localhost:{r['port']}" for r in found["gateway"])
    assert "micro: ready in " in stack.output
    # Migrations ran once per service, before any replica started.
    for service in SERVICES:
        assert stack.output.count(f"micro: {service}: applied ") == 1
    assert stack.output.index("micro: ledger: applied ") < stack.output.index("ledger-2 |")
    assert f": gateways {gateways} (health: " in stack.output
    for name in APPS:
        ports = " ".join(f":{r['port']}" for r in found[name])
        assert f"micro:   {name:<9} 2 replicas on {ports}, restarts 0" in stack.output


@pytest.mark.e2e
def test_status_lists_every_replica_with_its_port_and_restarts(stack: RunningStack) -> None:
    result = micro("dev", "status", env=stack.env)
    rows = status_rows(result.stdout)
    for name, entries in replicas(stack).items():
        for entry in entries:
            row = rows[entry["name"]]
            assert (row.port, row.restarts) == (entry["port"], "0")
            if name != "gateway":
                assert row.state == "ready", result.stdout
    for entry in replicas(stack)["gateway"]:
        assert rows[f"{entry['name']}-metrics"] == StatusRow(entry["metrics_port"], "up", "")
    gateways = ", ".join(f"http://localhost:{r['port']}" for r in replicas(stack)["gateway"])
    assert f"gateways: {gateways}" in result.stdout.splitlines()


def requests_served(port: int, route: str) -> float:
    """What one service process counted for `route` (its own /metrics)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "micro_http_requests"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels.get("route") == route
    )


@pytest.mark.e2e
@pytest.mark.skipif(
    importlib.util.find_spec("shared.balancer") is None,
    reason="the apps take lists of replicas once shared/balancer.py is merged (w2/balance)",
)
def test_each_gateway_spreads_requests_over_both_replicas(stack: RunningStack) -> None:
    found = replicas(stack)
    route = "/ledger/accounts"
    before = [requests_served(r["port"], route) for r in found["ledger"]]
    with httpx.Client(base_url=f"http://127.0.0.1:{found['gateway'][0]['port']}") as gw:
        secret = create_key(gw, register(gw))["secret"]
    for gateway in found["gateway"]:
        with httpx.Client(base_url=f"http://127.0.0.1:{gateway['port']}", timeout=30) as gw:
            assert gw.get("/health").status_code == 200
            for _ in range(10):
                assert gw.get(route, headers=key_headers(secret)).status_code == 200
    after = [requests_served(r["port"], route) for r in found["ledger"]]
    served = [a - b for a, b in zip(after, before, strict=True)]
    assert sum(served) == 20
    assert all(count > 0 for count in served), served


@pytest.mark.e2e
def test_ctrl_c_stops_every_replica(stack: RunningStack) -> None:
    """Last: the stack goes."""
    state = stack.state()
    pids = interrupt(stack)
    assert stack.process.returncode == 0, stack.output
    ports = [r["port"] for rs in state["replicas"].values() for r in rs]
    ports += [r["metrics_port"] for r in state["replicas"]["gateway"]]
    alive, _ = leftovers(stack, pids)
    assert alive == []
    assert [port for port in ports if port_is_open(port)] == []
