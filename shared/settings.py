"""One settings object per service, read once from the environment.

Every service reads `MICRO_<SERVICE>_<FIELD>`; the values every process shares (Redis, the
identity keys, the log level) may also be set once as `MICRO_<FIELD>`, the service-specific
name winning. Defaults are the local dev stack (`micro dev up`), except secrets: those have no
default anywhere (`shared/secrets.py`), and `micro dev up` generates its own.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared import secrets
from shared.balancer import DOWN_SECONDS, parse_urls
from shared.redis_url import parse_sentinel

SERVICES: tuple[str, ...] = ("auth", "payments", "ledger", "wallet", "events")
APPS: tuple[str, ...] = ("gateway", *SERVICES)

HTTP_PORTS: dict[str, int] = {
    "gateway": 8080,
    "auth": 8081,
    "payments": 8082,
    "ledger": 8083,
    "wallet": 8084,
    "events": 8085,
}
DB_PORTS: dict[str, int] = {
    "auth": 5433,
    "payments": 5434,
    "ledger": 5435,
    "wallet": 5436,
    "events": 5437,
}
DB_NAMES: dict[str, str] = {name: name for name in SERVICES}
REDIS_PORT = 6379
# Local stack and tests: `micro` owns each service's database and runs its migrations; each
# app connects as its own role (`ledger_app`), neither superuser nor owner, holding only the
# privileges its service's migrations grant it.
DB_USER = "micro"
DB_PASSWORD = "micro"  # noqa: S105 - the documented local-dev credential
DB_APP_PASSWORD = "micro"  # noqa: S105 - likewise, for the apps' roles


def app_role(service: str) -> str:
    """The role a service's app connects as in the local stack and the tests."""
    return f"{service}_app"


def database_url(
    service: str, *, host: str = "localhost", port: int | None = None, owner: bool = False
) -> str:
    """The local stack's DSN of a service's database: as its app's role, or as the owner."""
    port = DB_PORTS[service] if port is None else port
    user, password = (DB_USER, DB_PASSWORD) if owner else (app_role(service), DB_APP_PASSWORD)
    return f"postgres://{user}:{password}@{host}:{port}/{DB_NAMES[service]}"


def dsn_user(dsn: str) -> str:
    """The user a DSN logs in as ("" when it names none)."""
    return unquote(urlsplit(dsn).username or "")


def check_upstream_urls(value: str) -> str:
    """The validator of every setting that names another service (`*_url`): one base URL, or
    a comma-separated list of the service's replicas (shared/balancer.py), refused at start
    with the item at fault rather than at the first request."""
    parse_urls(value)
    return value


# Values every process shares may be set once as MICRO_<FIELD> instead of per service.
SHARED_FIELDS: tuple[str, ...] = ("redis_url", "identity_keys", "log_level", "otel_endpoint")


class ServiceSettings(BaseSettings):
    """Fields every app has. A subclass names its `service`; that sets its env prefix."""

    service: ClassVar[str]
    model_config = SettingsConfigDict(extra="ignore")

    host: str = "127.0.0.1"
    # Defaults to the service's port in the local dev stack.
    port: int = 0
    redis_url: str = "redis://localhost:6379/0"
    # MICRO_IDENTITY_KEYS, comma-separated: the first signs X-Micro-Identity, all verify.
    # Required: an empty list is refused at start (validate_default).
    identity_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validate_default=True
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Bodies above this are refused with 413 before they are read into memory.
    max_body_bytes: int = 1_048_576
    # Seconds a readiness probe waits on PostgreSQL or Redis before calling it down.
    ready_timeout: float = 2.0
    # Seconds one Redis command may take: a dead Redis must never stall a request.
    redis_timeout: float = 1.0
    # Calls to other Micro services (shared.internal_client): seconds one attempt may take
    # and may spend connecting; attempts per call while the service is unavailable (no
    # answer, a 5xx), waiting a jittered exponential backoff from `internal_backoff` up to
    # `internal_backoff_max` seconds between them; connections open at once per process.
    internal_timeout: float = Field(default=10.0, gt=0)
    internal_connect_timeout: float = Field(default=2.0, gt=0)
    internal_attempts: int = Field(default=3, ge=1, le=10)
    internal_backoff: float = Field(default=0.1, ge=0)
    internal_backoff_max: float = Field(default=2.0, ge=0)
    internal_max_connections: int = Field(default=64, ge=1)
    # Every `*_url` naming another service takes a comma-separated list of its replicas;
    # calls go round-robin, and a replica that refused or dropped a connection is tried last
    # for this many seconds, then again (shared/balancer.py).
    replica_down_seconds: float = Field(default=DOWN_SECONDS, ge=0)
    # Traces (shared/tracing.py): the OTLP/HTTP base URL spans are exported to
    # (`http://collector:4318`; `/v1/traces` is added). Unset: tracing is off.
    otel_endpoint: str | None = None

    @field_validator("identity_keys", mode="before")
    @classmethod
    def _identity_keys(cls, value: object) -> list[str]:
        return secrets.check_keys(secrets.IDENTITY, value)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        parse_sentinel(value)  # a sentinel URL that cannot be used is refused at start
        return value

    @field_validator("otel_endpoint")
    @classmethod
    def _otel_endpoint(cls, value: str | None) -> str | None:
        if not value:
            return None
        if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
            raise ValueError("otel_endpoint is an OTLP/HTTP base URL, e.g. http://collector:4318")
        return value

    @property
    def identity_key(self) -> str:
        """The key that signs; the others in the list are only still accepted."""
        return self.identity_keys[0]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "service" in cls.__dict__:
            cls.model_config["env_prefix"] = f"MICRO_{cls.service.upper()}_"
            cls.model_rebuild(force=True)

    @model_validator(mode="before")
    @classmethod
    def _service_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name in SHARED_FIELDS:
            shared = os.environ.get(f"MICRO_{name.upper()}")
            if name not in data and shared is not None:
                data[name] = shared
        if not data.get("port"):
            data["port"] = HTTP_PORTS[cls.service]
        return data


class DatabaseSettings(ServiceSettings):
    """A service that owns a PostgreSQL database."""

    # The app's own role: neither superuser nor owner (the app refuses to start as either).
    # Defaults to the service's database in the local dev stack.
    database_url: str = ""
    # The owner's DSN, for migrations (`micro db migrate`, migrate_on_start). Defaults to the
    # local stack's owner when database_url is left to its default, else to database_url,
    # which the migration runner refuses (the app role cannot own the tables).
    migration_database_url: str = ""
    # The role migrations grant the app's privileges to: database_url's user unless set (a
    # group role that the login role is a member of, on a managed PostgreSQL).
    app_role: str = ""
    pool_min_size: int = 2
    pool_max_size: int = 20
    # Apply pending migrations at start-up, as migration_database_url (the dev stack and the
    # compose file migrate first instead, so the apps never hold the owner's password).
    migrate_on_start: bool = False
    # The outbox relay polls this often when no commit wakes it (commits wake it at once).
    outbox_interval: float = 1.0
    # Event streams in Redis keep this much history for `micro listen` to resume from.
    event_retention_days: float = 7.0
    # Retention (shared/retention.py): seconds between purge rounds; idempotency results are
    # kept this many hours (at least the 24 `shared/idempotency.py` promises); published
    # outbox rows this many days (unpublished ones are never purged).
    retention_interval: float = 3600.0
    idempotency_retention_hours: float = Field(default=24.0, ge=24.0)
    # Seconds a claimed Idempotency-Key stays claimed without its process renewing it (it
    # renews five times a lease while the request runs): a replica that dies mid-request
    # frees its keys for a retry this soon. Longer than any pause a live process may take.
    idempotency_lease_seconds: float = Field(default=10.0, gt=0)
    outbox_retention_days: float = Field(default=7.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _database_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if not data.get("database_url"):
            data["database_url"] = database_url(cls.service)
            data.setdefault("migration_database_url", database_url(cls.service, owner=True))
        if not data.get("migration_database_url"):
            data["migration_database_url"] = data["database_url"]
        if not data.get("app_role"):
            data["app_role"] = dsn_user(str(data["database_url"]))
        return data
