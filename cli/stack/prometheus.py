"""Prometheus as a process of the local stack (`micro dev up --with-prometheus`).

Debian's `prometheus` binary, not its system service: its config, rules and data live under
the stack's folder (`.micro/prometheus/`), and it stops with the stack. It scrapes every
replica of every app by the job names of deploy/prometheus/prometheus.yml (the gateway on its
metrics port) and evaluates the shipped rules of deploy/prometheus/rules/micro.yml. Two
settings may lower what those rules wait for, so a test sees an alert fire in seconds: every
`for:` (`MICRO_DEV_PROMETHEUS_FOR`) and an alert's threshold, the last `> N` of its expression
(`MICRO_DEV_PROMETHEUS_THRESHOLDS`, e.g. `{"LedgerPostingStuck": 1}`); the rest of each
expression is the shipped one.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from cli.stack.binaries import PrometheusBinaries
from cli.stack.errors import StackError
from cli.stack.replicas import Replica

# The shipped rules, in a source checkout (deploy/ is not part of the wheel).
RULES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"
RULE_FILES = ("micro.yml",)

_FOR = re.compile(r"^(\s+for:\s*)\S+\s*$", re.MULTILINE)
_ALERT = re.compile(r"^\s+- alert:\s*(\S+)\s*$")
_EXPR = re.compile(r"^(\s+expr:\s*)(.*)$")
_LAST_THRESHOLD = re.compile(r"(.*>\s*)([0-9.]+)")


def render_rules(text: str, *, for_: str | None, thresholds: dict[str, float]) -> str:
    """The rules file with every `for:` set to `for_` (when given) and each alert named in
    `thresholds` compared with its number instead of the shipped one."""
    if for_ is not None:
        text = _FOR.sub(lambda m: f"{m.group(1)}{for_}", text)
    lines = text.split("\n")
    alert: str | None = None
    seen: set[str] = set()
    for number, line in enumerate(lines):
        named = _ALERT.match(line)
        if named:
            alert = named.group(1)
            continue
        expr = _EXPR.match(line)
        if expr and alert is not None and alert in thresholds:
            limit = f"{thresholds[alert]:g}"
            replaced = _LAST_THRESHOLD.sub(rf"\g<1>{limit}", expr.group(2), count=1)
            if replaced == expr.group(2):
                raise StackError(f"alert {alert} has no `> N` threshold to change")
            lines[number] = expr.group(1) + replaced
            seen.add(alert)
            alert = None
    unknown = set(thresholds) - seen
    if unknown:
        raise StackError(f"MICRO_DEV_PROMETHEUS_THRESHOLDS: no such alert {sorted(unknown)}")
    return "\n".join(lines)


def scrape_configs(replicas: dict[str, list[Replica]]) -> list[dict[str, object]]:
    """One job per app, named for it, listing every replica (the gateway's metrics port)."""
    return [
        {
            "job_name": app,
            "metrics_path": "/metrics",
            "static_configs": [
                {"targets": [f"127.0.0.1:{r.metrics_port or r.port}" for r in members]}
            ],
        }
        for app, members in replicas.items()
    ]


@dataclass(slots=True)
class PrometheusServer:
    folder: Path
    port: int
    binaries: PrometheusBinaries
    interval: float
    name: str = "prometheus"

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.folder / "prometheus.yml"

    def write_config(
        self,
        replicas: dict[str, list[Replica]],
        *,
        for_: str | None,
        thresholds: dict[str, float],
    ) -> None:
        rules = self.folder / "rules"
        rules.mkdir(parents=True, exist_ok=True)
        for name in RULE_FILES:
            try:
                shipped = (RULES_DIR / name).read_text()
            except OSError as exc:
                raise StackError(
                    f"--with-prometheus needs the rules of Micro's source checkout: {exc}"
                ) from None
            rendered = render_rules(shipped, for_=for_, thresholds=thresholds)
            (rules / name).write_text(rendered)
        every = f"{self.interval:g}s"
        config = {
            "global": {"scrape_interval": every, "evaluation_interval": every},
            "rule_files": [f"rules/{name}" for name in RULE_FILES],
            "scrape_configs": scrape_configs(replicas),
        }
        # JSON is YAML: no YAML writer needed at run time.
        self.config_file.write_text(json.dumps(config, indent=2) + "\n")

    def command(self) -> list[str]:
        return [
            str(self.binaries.prometheus),
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]

    async def wait_ready(self, process: asyncio.subprocess.Process, within: float = 60) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if process.returncode is not None:
                    raise StackError(
                        f"prometheus exited with code {process.returncode} during start-up"
                    )
                try:
                    if (await client.get(f"{self.url}/-/ready")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise StackError(f"prometheus did not answer at {self.url} in {within:.0f}s")
                await asyncio.sleep(0.1)
