"""`micro dev up|down|status|logs` and `micro psql`: the local stack."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import typer
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from cli.stack.binaries import ensure_binaries, ensure_browser, ensure_prometheus, find_psql
from cli.stack.config import DevSettings, forget_location
from cli.stack.errors import StackError
from cli.stack.ports import port_is_open
from cli.stack.stack import Stack, locate, pid_alive, read_state
from cli.stack.supervisor import install_stop_handlers
from cli.table import render
from services.auth.settings import DEV_ADMIN_EMAIL
from shared.settings import APPS, DB_NAMES, SERVICES

dev_app = typer.Typer(help="Run the whole stack on this machine.", no_args_is_help=True)


@dev_app.command()
def up(
    replicas: Annotated[
        int | None,
        typer.Option(
            "--replicas",
            min=1,
            max=16,
            help="Processes of every app, gateways included (default: MICRO_DEV_REPLICAS, or 1).",
        ),
    ] = None,
    with_prometheus: Annotated[
        bool,
        typer.Option(
            "--with-prometheus",
            help="Also Prometheus (Debian's package), scraping every app and evaluating the "
            "alert rules of deploy/prometheus/rules; its data in the stack's folder "
            "(default: MICRO_DEV_PROMETHEUS).",
        ),
    ] = False,
) -> None:
    """Start PostgreSQL x5, Redis, the services and the gateway; Ctrl-C stops them all.

    A process that crashes is started again, with backoff; `micro dev status` counts restarts.
    """
    try:
        settings = DevSettings()
    except ValidationError as exc:
        typer.echo(f"micro: error: {_first_error(exc)}", err=True)
        raise typer.Exit(1) from None
    if replicas is not None:
        settings = settings.model_copy(update={"replicas": replicas})
    if with_prometheus:
        settings = settings.model_copy(update={"prometheus": True})
    running = read_state(settings)
    if running:
        typer.echo(
            f"micro: the stack is already running (pid {running['pid']}); "
            "`micro dev down` stops it",
            err=True,
        )
        raise typer.Exit(1)
    settings.dir.mkdir(parents=True, exist_ok=True)
    raise typer.Exit(asyncio.run(_up(settings)))


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    name = "MICRO_DEV_" + "_".join(str(part) for part in error["loc"]).upper()
    return f"{name}: {error['msg']}"


async def _up(settings: DevSettings) -> int:
    try:
        stack = Stack(settings)
    except StackError as exc:
        typer.echo(f"micro: error: {exc}", err=True)
        return 1
    stop = asyncio.Event()
    install_stop_handlers(stop.set)
    began = time.monotonic()
    # Written before anything starts, so `micro dev down` can stop a stack still starting.
    stack.write_state(phase="starting")
    starting = asyncio.create_task(stack.start())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        settings.state_file.unlink(missing_ok=True)
        forget_location(settings)
        typer.echo("micro: stopped during start-up")
        return 130
    stopping.cancel()
    try:
        starting.result()
    except StackError as exc:
        typer.echo(f"micro: error: {exc}", err=True)
        return 1
    # A child that exits from now on is started again; only a stop ends the stack.
    stack.supervise()
    _banner(stack, time.monotonic() - began)
    # Only once the ready lines are out: whoever waits for "running" (a script, a test) then
    # finds them in the output. Nothing awaits in between, so no restart can write it first.
    stack.write_state(phase="running")
    await stop.wait()
    typer.echo("micro: stopping")
    await stack.stop()
    typer.echo("micro: stopped")
    return 0


def _banner(stack: Stack, seconds: float) -> None:
    settings = stack.settings
    gateway = settings.http_ports["gateway"]
    gateways = ", ".join(f"http://localhost:{g.port}" for g in stack.gateways)
    word = "gateway" if len(stack.gateways) == 1 else "gateways"
    lines = [
        f"micro: ready in {seconds:.1f}s: {word} {gateways}"
        f" (health: http://localhost:{gateway}/health)",
    ]
    for service in SERVICES:
        port = settings.db_ports[service]
        lines.append(
            f"micro:   {service:<9} psql postgres://micro:micro@localhost:{port}/{DB_NAMES[service]}"
        )
    if settings.replicas > 1:
        for app, replicas in stack.replicas.items():
            ports = " ".join(f":{r.port}" for r in replicas)
            metrics = " ".join(f":{r.metrics_port}" for r in replicas if r.metrics_port)
            lines.append(
                f"micro:   {app:<9} {len(replicas)} replicas on {ports}, restarts 0"
                + (f" (metrics {metrics})" if metrics else "")
            )
    if stack.prometheus is not None:
        url = stack.prometheus.url
        lines.append(
            f"micro:   prometheus {url} (alerts: {url}/alerts; "
            f"data and rules in {stack.prometheus.folder})"
        )
    lines.append(
        "micro: a process that exits is started again (backoff "
        f"{settings.restart_delay:g} s doubling to {settings.restart_delay_max:g} s); "
        "`micro dev status` counts the restarts"
    )
    env = stack.app_env()
    admin_email = env.get("MICRO_AUTH_ADMIN_EMAIL", DEV_ADMIN_EMAIL)
    admin_password = env["MICRO_AUTH_ADMIN_PASSWORD"]
    lines.append(
        f"micro: platform admin: {admin_email} / {admin_password} "
        f"(POST http://localhost:{gateway}/auth/admin)"
    )
    lines.append(
        f"micro: secrets in {settings.secrets_file}; other micro commands need them: "
        f"`set -a; . {settings.secrets_file}; set +a`"
    )
    lines.append("micro: Ctrl-C (or `micro dev down` from another shell) stops everything")
    typer.echo("\n".join(lines))


@dev_app.command()
def deps(
    browser: Annotated[
        bool,
        typer.Option(
            "--browser",
            help="Also what the test suite needs: Chromium, chromedriver, Prometheus (promtool).",
        ),
    ] = False,
) -> None:
    """Check for (and, as root on Debian, install) PostgreSQL, psql and Redis."""
    try:
        binaries = ensure_binaries()
        found = ensure_browser() if browser else None
        prometheus = ensure_prometheus() if browser else None
    except StackError as exc:
        typer.echo(f"micro: error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"postgres: {binaries.pg_bindir}")
    typer.echo(f"psql:     {binaries.psql}")
    typer.echo(f"redis:    {binaries.redis_server}")
    if found is not None:
        typer.echo(f"chromium: {found[0]}")
        typer.echo(f"driver:   {found[1]}")
    if prometheus is not None:
        typer.echo(f"prometheus: {prometheus.prometheus}")
        typer.echo(f"promtool:   {prometheus.promtool}")


@dev_app.command()
def down(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a clean stop.")] = 60,
) -> None:
    """Stop a stack started by `micro dev up` in another shell (from any directory)."""
    _, state = locate(DevSettings())
    if not state:
        typer.echo("micro: no stack is running")
        return
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            typer.echo(f"micro: the stack (pid {pid}) did not stop in {timeout:.0f}s", err=True)
            raise typer.Exit(1)
        time.sleep(0.1)
    typer.echo("micro: stopped")


@dataclass(frozen=True, slots=True)
class _Part:
    name: str
    port: int
    word: str
    ok: bool
    restarts: str = ""


@dev_app.command()
def status() -> None:
    """Show each part of the stack, whether it answers, and how often it was restarted (from
    any directory).

    Exit code: 0 running and all ready, 1 running with a part not ready or crash-looping, 3 stopped.
    """
    settings, state = locate(DevSettings())
    parts: list[_Part] = []
    # What a service reports as needing a person (e.g. postings the ledger refused).
    attention: list[str] = []
    crash_loops: dict[str, str] = {}

    def restarts(entry: dict[str, Any]) -> str:
        if state is None:
            return ""
        reason = entry.get("crash_loop")
        if reason:
            crash_loops[str(entry["name"])] = str(reason)
        return f"{entry.get('restarts', 0)}" + (", crash loop" if reason else "")

    for entry in _servers(settings, state):
        up = port_is_open(int(entry["port"]))
        parts.append(_Part(entry["name"], int(entry["port"]), _word(up), up, restarts(entry)))
    replicas = _replicas(settings, state)
    with httpx.Client(timeout=2) as client:
        for app, entries in replicas.items():
            asked = False
            for entry in entries:
                port = int(entry["port"])
                path = "/health" if app == "gateway" else "/ready"
                try:
                    code = client.get(f"http://127.0.0.1:{port}{path}").status_code
                    word, ok = ("ready", True) if code == 200 else (f"not ready ({code})", False)
                except httpx.HTTPError:
                    word, ok = "down", False
                parts.append(_Part(entry["name"], port, word, ok, restarts(entry)))
                # Asked once per app: every replica reads the same database.
                if ok and app != "gateway" and not asked:
                    asked = True
                    attention += [f"{app}: {line}" for line in _attention(client, port)]
    for entry in replicas.get("gateway", []):
        port = int(entry.get("metrics_port") or settings.metrics_port)
        up = port_is_open(port)
        parts.append(_Part(f"{entry['name']}-metrics", port, _word(up), up))
    not_ready = [part.name for part in parts if not part.ok]
    if state is None:
        answering = len(parts) - len(not_ready)
        headline = "stack: stopped"
        if answering:
            headline += (
                f" ({answering} of {len(parts)} ports answer: something else holds them, "
                "or a stack started with another MICRO_DEV_DIR)"
            )
        code = 3
    elif state.get("phase") != "running":
        headline, code = f"stack: {state.get('phase')} (pid {state['pid']})", 1
    elif not_ready or crash_loops:
        problems = [f"crash loop: {', '.join(crash_loops)}"] if crash_loops else []
        problems += [f"not ready: {', '.join(not_ready)}"] if not_ready else []
        headline = f"stack: running (pid {state['pid']}), {'; '.join(problems)}"
        code = 1
    else:
        headline, code = f"stack: running (pid {state['pid']}) in {settings.dir}", 0
    typer.echo(headline)
    typer.echo(
        render(
            ["PART", "PORT", "STATE", "RESTARTS"],
            [[p.name, str(p.port), p.word, p.restarts] for p in parts],
        )
    )
    if state is not None:
        gateways = [f"http://localhost:{e['port']}" for e in replicas.get("gateway", [])]
        word = "gateway" if len(gateways) == 1 else "gateways"
        typer.echo(f"{word}: {', '.join(gateways)}")
    for name, reason in crash_loops.items():
        typer.echo(
            f"{name}: crash loop ({reason}): still started again, at the longest backoff; "
            f"`micro dev logs {name}` says why it exits"
        )
    for line in attention:
        typer.echo(line)
    if code:
        raise typer.Exit(code)


def _servers(settings: DevSettings, state: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The data servers: as the running stack recorded them, else as configured."""
    if state is not None and isinstance(state.get("servers"), list):
        return list(state["servers"])
    servers: list[dict[str, Any]] = [
        {"name": f"{service}-db", "port": settings.db_ports[service]} for service in SERVICES
    ]
    servers.append({"name": "redis", "port": settings.redis_port})
    return servers


def _replicas(
    settings: DevSettings, state: dict[str, Any] | None
) -> dict[str, list[dict[str, Any]]]:
    """Every app's processes: as the running stack recorded them, else one of each as
    configured (what a stopped stack would use)."""
    if state is not None and isinstance(state.get("replicas"), dict):
        recorded: dict[str, list[dict[str, Any]]] = state["replicas"]
        return recorded
    # Only the apps MICRO_DEV_HTTP_PORTS names, when it names some and not others.
    replicas: dict[str, list[dict[str, Any]]] = {
        app: [{"name": app, "port": settings.http_ports[app]}]
        for app in APPS
        if app in settings.http_ports
    }
    if "gateway" in replicas:
        replicas["gateway"][0]["metrics_port"] = settings.metrics_port
    return replicas


# Gauges a service exports for what needs a person, and how to say it.
_ATTENTION = {
    "micro_ledger_postings_failed": (
        "{n} ledger posting(s) refused by the ledger, not retried: "
        "see ledger_outbox.failure (`micro psql payments`)"
    ),
}


def _attention(client: httpx.Client, port: int) -> list[str]:
    """What a service's /metrics says needs attention. /metrics rather than an endpoint of
    its own: it needs no identity token, and it is the number Prometheus alerts on, so the
    two never disagree."""
    try:
        response = client.get(f"http://127.0.0.1:{port}/metrics")
        families = list(text_string_to_metric_families(response.text))
    except (httpx.HTTPError, ValueError):
        return []
    lines = []
    for family in families:
        template = _ATTENTION.get(family.name)
        count = int(sum(sample.value for sample in family.samples))
        if template is not None and count > 0:
            lines.append(template.format(n=count))
    return lines


def _word(up: bool) -> str:
    return "up" if up else "down"


@dev_app.command()
def logs(
    name: Annotated[
        str | None, typer.Argument(help="One process, e.g. ledger or ledger-db.")
    ] = None,
    lines: Annotated[int, typer.Option("-n", "--lines", help="Lines to show.")] = 50,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Keep printing.")] = False,
) -> None:
    """Print the stack's logs (all processes, or one), from any directory."""
    settings, _ = locate(DevSettings())
    files = sorted(settings.log_dir.glob("*.log"))
    if name:
        files = [f for f in files if f.stem == name]
        if not files:
            known = ", ".join(sorted(f.stem for f in settings.log_dir.glob("*.log"))) or "none yet"
            typer.echo(f"micro: no log for {name!r} (known: {known})", err=True)
            raise typer.Exit(1)
    if not files:
        typer.echo("micro: no logs yet; start the stack with `micro dev up`", err=True)
        raise typer.Exit(1)
    argv = ["tail", "-n", str(lines), *(["-F"] if follow else []), *map(str, files)]
    raise typer.Exit(subprocess.call(argv))


def psql(
    service: Annotated[str, typer.Argument(help=f"One of: {', '.join(SERVICES)}.")],
    command: Annotated[str | None, typer.Option("-c", "--command", help="Run one command.")] = None,
) -> None:
    """Open psql on a service's own database of the local stack."""
    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; choose from {', '.join(SERVICES)}")
    found = find_psql()
    if found is None:
        typer.echo(
            "micro: psql not found: install it with `apt-get install -y postgresql-client`",
            err=True,
        )
        raise typer.Exit(1)
    client = str(found)
    port = locate(DevSettings())[0].db_ports[service]
    dsn = f"postgres://micro:micro@localhost:{port}/{DB_NAMES[service]}"
    # Replace ourselves so psql owns the terminal (signals, pager, readline).
    os.execv(client, [client, dsn, *(["-c", command] if command else [])])  # noqa: S606
