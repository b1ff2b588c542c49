from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.accounts import Account, platform_admin, register
from tests.e2e.stack import RunningStack, running_stack
from tests.support.servers import scratch_dir


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    """One whole stack for the session's end-to-end tests."""
    with scratch_dir("micro-e2e-") as root, running_stack(root) as running:
        yield running


@pytest.fixture
def gw(stack: RunningStack) -> Iterator[httpx.Client]:
    """An HTTP client for the stack's gateway."""
    with stack.client() as client:
        yield client


@pytest.fixture(scope="module")
def admin(stack: RunningStack) -> Iterator[Account]:
    """The platform admin, signed in once per module."""
    with stack.client() as client:
        yield platform_admin(client)


@pytest.fixture
def owner(gw: httpx.Client) -> Account:
    """A new tenant's owner (TENANT_ADMIN), registered for each test."""
    return register(gw)
