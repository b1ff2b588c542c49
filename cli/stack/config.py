"""Where the local stack keeps its data and which ports it uses (`MICRO_DEV_*`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.settings import METRICS_PORT
from shared.settings import DB_PORTS, HTTP_PORTS, REDIS_PORT


class DevSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MICRO_DEV_", extra="ignore")

    dir: Path = Path(".micro")
    http_ports: dict[str, int] = Field(default_factory=lambda: dict(HTTP_PORTS))
    db_ports: dict[str, int] = Field(default_factory=lambda: dict(DB_PORTS))
    redis_port: int = REDIS_PORT
    # The gateway's internal /metrics listener.
    metrics_port: int = METRICS_PORT
    # Throwaway stacks (tests): no fsync, no Redis persistence.
    ephemeral: bool = False
    start_timeout: float = 90.0
    # Processes of every app (`micro dev up --replicas N`): replica 1 on the ports above,
    # the others on the next free ones.
    replicas: int = Field(default=1, ge=1, le=16)
    # A crashed child is started again after this many seconds, doubling up to the most.
    restart_delay: float = Field(default=0.5, gt=0)
    restart_delay_max: float = Field(default=30.0, gt=0)
    # Prometheus as a process of the stack (`--with-prometheus`, cli/stack/prometheus.py):
    # its port, how often it scrapes and evaluates the rules, and what may shorten the rules'
    # waits (every `for:`; alerts' thresholds by name) so a test sees an alert in seconds.
    prometheus: bool = False
    prometheus_port: int = 9090
    prometheus_interval: float = Field(default=15.0, gt=0)
    prometheus_for: str | None = Field(default=None, pattern=r"^[0-9]+(ms|s|m|h)$")
    prometheus_thresholds: dict[str, float] = Field(default_factory=dict)

    @property
    def state_file(self) -> Path:
        return self.dir / "stack.json"

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    @property
    def secrets_file(self) -> Path:
        """The stack's own random secrets, made on the first start and kept (mode 0600)."""
        return self.dir / "secrets.env"


def pointer_file() -> Path:
    """Where a running stack records its data folder, so `micro dev status|logs|down` find it
    from any directory (`$XDG_STATE_HOME/micro/stack.json`)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "micro" / "stack.json"


def record_location(settings: DevSettings) -> None:
    path = pointer_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"dir": str(settings.dir.resolve()), "pid": os.getpid()}))
    tmp.replace(path)


def forget_location(settings: DevSettings) -> None:
    """Remove the pointer if it still names this stack (a newer one may have replaced it)."""
    if recorded_dir() == settings.dir.resolve():
        pointer_file().unlink(missing_ok=True)


def recorded_dir() -> Path | None:
    try:
        data = json.loads(pointer_file().read_text())
    except (OSError, ValueError):
        return None
    folder = data.get("dir") if isinstance(data, dict) else None
    return Path(folder) if isinstance(folder, str) else None
