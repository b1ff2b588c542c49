"""Where each replica of each app listens (`micro dev up --replicas N`).

Replica 1 of an app keeps the app's configured port (8082 for payments), so a stack of one
is what it always was; replicas 2..N take the next free ports above the highest configured
one, in order (gateway-2, auth-2, ..., gateway-3, ...). The gateway's metrics listener
likewise: replica 1 on the configured port (9080), the others on the next free ones above.
"""

from __future__ import annotations

from dataclasses import dataclass

from cli.stack.config import DevSettings
from cli.stack.ports import next_free_ports
from shared.settings import APPS


@dataclass(frozen=True, slots=True)
class Replica:
    app: str
    number: int
    port: int
    # The gateway's internal /metrics listener; None for a service.
    metrics_port: int | None = None

    @property
    def name(self) -> str:
        """The child's name, and its log file's: `payments`, `payments-2`, ..."""
        return self.app if self.number == 1 else f"{self.app}-{self.number}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def plan_replicas(settings: DevSettings) -> dict[str, list[Replica]]:
    """Every app's replicas, by app, in the order of `APPS`."""
    count = settings.replicas
    taken = {
        *settings.http_ports.values(),
        *settings.db_ports.values(),
        settings.redis_port,
        settings.metrics_port,
    }
    http = next_free_ports(
        (count - 1) * len(APPS), after=max(settings.http_ports.values()), taken=taken
    )
    metrics = iter(next_free_ports(count - 1, after=settings.metrics_port, taken=taken | set(http)))
    extra = iter(http)
    plan: dict[str, list[Replica]] = {
        app: [
            Replica(
                app,
                1,
                settings.http_ports[app],
                settings.metrics_port if app == "gateway" else None,
            )
        ]
        for app in APPS
    }
    for number in range(2, count + 1):
        for app in APPS:
            metrics_port = next(metrics) if app == "gateway" else None
            plan[app].append(Replica(app, number, next(extra), metrics_port))
    return plan


def urls(replicas: list[Replica]) -> str:
    """The comma-separated list every caller of the app is given (shared/balancer.py)."""
    return ",".join(replica.url for replica in replicas)
