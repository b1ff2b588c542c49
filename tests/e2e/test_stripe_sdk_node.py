"""The official Stripe Node SDK (stripe-node 20), unchanged, as a client of the whole stack.

Each test runs one step of tests/sdk/node/flow.mjs (`node flow.mjs STEP`): its assertions
are JavaScript's (`node:assert`) on what the SDK hands back, and it exits non-zero when one
fails. The steps are those of tests/e2e/test_stripe_sdk_python.py. `make test-deps`
installs the SDK into tests/sdk/node/node_modules.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.stack import RunningStack
from tests.sdk.readme import readme_snippet
from tests.sdk.tenants import TIGHT_RATE_LIMIT, Merchant, merchant

pytestmark = pytest.mark.e2e

NODE_PROJECT = Path(__file__).resolve().parents[1] / "sdk" / "node"
FLOW = NODE_PROJECT / "flow.mjs"
INSTALLED = NODE_PROJECT / "node_modules" / "stripe" / "package.json"
# In the order of issue #15's flow; the balance sums up what the steps before it did.
STEPS = (
    "customers",
    "payment",
    "payment_methods",
    "pagination",
    "decline",
    "idempotency",
    "webhooks",
    "invalid_requests",
    "authentication",
    "rate_limit",
    "balance",
)


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    assert found, "node is not installed: `make test-deps` installs it"
    assert INSTALLED.exists(), "the Stripe Node SDK is not installed: run `make test-deps`"
    return found


@pytest.fixture(scope="module")
def shop(stack: RunningStack) -> Merchant:
    return merchant(stack)


@pytest.fixture(scope="module")
def flow_env(stack: RunningStack, shop: Merchant) -> dict[str, str]:
    return {
        **os.environ,
        "MICRO_API": stack.gateway,
        "STRIPE_KEY": shop.key,
        "STRIPE_FRESH_KEY": merchant(stack).key,
        "STRIPE_TIGHT_KEY": merchant(stack, rate_limit=TIGHT_RATE_LIMIT).key,
        "TIGHT_LIMIT": str(TIGHT_RATE_LIMIT),
    }


def run_node(node: str, args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    ran = subprocess.run(
        [node, *args],
        cwd=NODE_PROJECT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return ran.stdout


def test_every_step_of_the_flow_has_a_test() -> None:
    defined = re.findall(r"^  async (\w+)\(\) \{$", FLOW.read_text(), re.MULTILINE)
    assert sorted(defined) == sorted(STEPS)


@pytest.mark.parametrize("step", STEPS)
def test_the_flow_step(node: str, flow_env: dict[str, str], step: str) -> None:
    assert run_node(node, [str(FLOW), step], flow_env).strip() == f"ok {step}"


def test_the_readme_snippet_runs_as_written(node: str, stack: RunningStack, shop: Merchant) -> None:
    script = readme_snippet("js")
    assert 'host: "localhost", port: 8080' in script
    script = script.replace(
        'host: "localhost", port: 8080', f'host: "127.0.0.1", port: {stack.http_ports["gateway"]}'
    )
    out = run_node(node, ["--input-type=module"], {**os.environ, "KEY": shop.key}, stdin=script)
    assert "succeeded 1500 succeeded" in out
    assert "card_declined generic_decline" in out
