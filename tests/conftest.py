"""Session servers (one PostgreSQL, one Redis), migrated template databases cloned per test,
and services run in-process against them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from cryptography.fernet import Fernet

from cli.apps import app_factory, settings_class
from shared.migrations import migrate_service
from shared.settings import SERVICES, ServiceSettings, app_role
from tests.support.asgi import ServiceClient as ServiceClient  # re-exported: tests annotate with it
from tests.support.asgi import serve_in_process
from tests.support.browser import browser as browser  # the fixture, for every test
from tests.support.browser import pytest_runtest_makereport as pytest_runtest_makereport
from tests.support.secrets import TEST_SECRET_FIELDS
from tests.support.servers import (
    CreateDb as CreateDb,  # re-exported: tests annotate with it
)
from tests.support.servers import (
    PostgresHandle,
    databases,
    postgres_server,
    redis_server,
)


@pytest.fixture(scope="session")
async def pg() -> AsyncIterator[PostgresHandle]:
    async with postgres_server() as handle:
        yield handle


@pytest.fixture(scope="session")
async def redis_url() -> AsyncIterator[str]:
    async with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
async def templates(pg: PostgresHandle) -> dict[str, str]:
    """One template database per service, migrated as the owner; tests get cheap clones."""
    names = {}
    for service in SERVICES:
        name = f"tpl_{service}"
        await pg.create_database(name)
        await migrate_service(service, pg.dsn(name), app_role=app_role(service))
        names[service] = name
    return names


@pytest.fixture
async def create_db(pg: PostgresHandle, templates: dict[str, str]) -> AsyncIterator[CreateDb]:
    """`await create_db("ledger")` -> the DSN of a fresh, migrated ledger database, as the
    ledger app's role (`tests.support.servers.owner_dsn` of it: as the owner)."""
    async with databases(pg, templates) as create:
        yield create


# Cheap bcrypt in tests: the cost factor is a setting, the algorithm is the same. Keys are
# generated per run, never the source's development defaults.
TEST_SETTINGS: dict[str, dict[str, object]] = {
    "auth": {"bcrypt_rounds": 4},
    "events": {"webhook_secrets_key": Fernet.generate_key().decode()},
}


@pytest.fixture
def service_client(create_db: CreateDb, redis_url: str) -> ServiceClient:
    """`async with service_client("ledger") as client:` a service on its own fresh database."""

    def open_client(
        app: str, **overrides: object
    ) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return _open(app, overrides)

    async def build(app: str, overrides: dict[str, object]) -> ServiceSettings:
        values: dict[str, object] = {
            "redis_url": redis_url,
            **TEST_SECRET_FIELDS,
            **TEST_SETTINGS.get(app, {}),
        }
        values.update(overrides)
        if app in SERVICES and "database_url" not in values:
            values["database_url"] = await create_db(app)
        return settings_class(app).model_validate(values)

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def _open(app: str, overrides: dict[str, object]) -> AsyncIterator[httpx.AsyncClient]:
        settings = await build(app, overrides)
        async with serve_in_process(app_factory(app)(settings)) as client:
            yield client

    return open_client
