"""Where the local stack keeps its data and which ports it uses (`MICRO_DEV_*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import DB_PORTS, HTTP_PORTS, REDIS_PORT


class DevSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MICRO_DEV_", extra="ignore")

    dir: Path = Path(".micro")
    http_ports: dict[str, int] = Field(default_factory=lambda: dict(HTTP_PORTS))
    db_ports: dict[str, int] = Field(default_factory=lambda: dict(DB_PORTS))
    redis_port: int = REDIS_PORT
    # Throwaway stacks (tests): no fsync, no Redis persistence.
    ephemeral: bool = False
    start_timeout: float = 90.0

    @property
    def state_file(self) -> Path:
        return self.dir / "stack.json"

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"
