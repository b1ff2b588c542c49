"""Two replicas of every app and two gateways, under load, while replicas are SIGKILLed.

`micro dev up` with MICRO_DEV_REPLICAS=2, exactly as a developer starts it. Clients behave as
Stripe's SDKs do: every POST carries an Idempotency-Key, and a connection error, a 502 or a
503 is retried with the same key (here on the other gateway too). In the middle of the load
one replica each of payments, ledger, wallet and events, and the second gateway, are
SIGKILLed (the stack restarts them). Afterwards nothing is lost and nothing happened twice:

- every payment intent succeeded, once, with one ledger transaction for its amount;
- the wallet transfers all succeeded, once each, and the wallets still hold what was put in;
- `micro ledger verify` finds no discrepancy;
- every payment_intent.succeeded event reached both `micro listen` processes (one per
  gateway) and both webhook endpoints (at least once; a repeat only with the same event id);
- a key limited to 100 requests a minute gets exactly 100 of 150 concurrent requests spread
  over both gateways.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.e2e.accounts import (
    create_key,
    key_headers,
    platform_admin,
    raise_rate_limit,
    register,
)
from tests.e2e.stack import RunningStack, micro, running_stack
from tests.support.listen import READY, Listen, Receiver, receiver
from tests.support.polling import eventually
from tests.support.servers import scratch_dir

pytestmark = pytest.mark.e2e

REPLICAS = 2
APPS = ("auth", "payments", "ledger", "wallet", "events", "gateway")
INTENTS = 500
TRANSFERS = 500
WALLETS = 10
FUNDING = 100_000
CLIENTS = 12
# The load tenant must test the replicas, not its rate limit.
TENANT_RATE_LIMIT = 1_000_000
KILLED = ("payments", "ledger", "wallet", "events", "gateway")
RETRIED_STATUSES = frozenset({502, 503})


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with (
        scratch_dir("micro-replicas-") as root,
        running_stack(root, {"MICRO_DEV_REPLICAS": str(REPLICAS)}) as running,
    ):
        yield running


def replicas(stack: RunningStack) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = stack.state()["replicas"]
    return found


def gateways(stack: RunningStack) -> list[str]:
    return [f"http://127.0.0.1:{r['port']}" for r in replicas(stack)["gateway"]]


class Client:
    """What a Stripe SDK does on a network failure: the same request with the same
    Idempotency-Key, again (here alternating over the gateways), with backoff."""

    def __init__(self, bases: list[str], headers: dict[str, str]) -> None:
        self.http = [httpx.Client(base_url=b, timeout=30) for b in bases]
        self.headers = headers
        self.retries = 0
        self.lock = threading.Lock()

    def close(self) -> None:
        for http in self.http:
            http.close()

    def send(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        headers = dict(self.headers)
        if method == "POST":
            headers["Idempotency-Key"] = f"replicas-{uuid.uuid4()}"
        start = random.randrange(len(self.http))
        last = "no answer"
        for attempt in range(40):
            http = self.http[(start + attempt) % len(self.http)]
            try:
                response = http.request(method, path, json=body, headers=headers)
            except httpx.TransportError:
                response = None
            if response is not None and not _retried(response):
                return response
            last = f"{response.status_code} {response.text[:300]}" if response else "no answer"
            with self.lock:
                self.retries += 1
            time.sleep(min(2.0, 0.05 * 2**attempt))
        raise AssertionError(f"{method} {path} never answered; last: {last}")


def _retried(response: httpx.Response) -> bool:
    if response.status_code in RETRIED_STATUSES:
        return True
    # The same key still running elsewhere (its first attempt's replica is finishing it).
    return response.status_code == 409 and "idempotency_key_in_use" in response.text


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


class Tenant:
    """A tenant with a key, its rate limit raised out of the way by the platform admin."""

    def __init__(self, stack: RunningStack) -> None:
        with stack.client() as gw:
            admin = platform_admin(gw)
            owner = register(gw)
            raise_rate_limit(gw, admin, owner.tenant_id, TENANT_RATE_LIMIT)
            self.tenant_id = owner.tenant_id
            self.secret: str = create_key(gw, owner)["secret"]
        self.headers = key_headers(self.secret)


def kill_one_of_each(stack: RunningStack) -> dict[str, int]:
    """SIGKILL the second replica of each app in KILLED; their pids, by app."""
    found = replicas(stack)
    killed = {app: int(found[app][1]["pid"]) for app in KILLED}
    for pid in killed.values():
        os.kill(pid, signal.SIGKILL)
    return killed


def run_all(jobs: list[Callable[[], Any]], *, midway: Callable[[], None]) -> list[Any]:
    """Run `jobs` on CLIENTS threads; call `midway` once, when a third of them are done."""
    done = 0
    lock = threading.Lock()
    fired = threading.Event()

    def counted(job: Callable[[], Any]) -> Any:
        nonlocal done
        result = job()
        with lock:
            done += 1
            fire = done >= len(jobs) // 3 and not fired.is_set()
            if fire:
                fired.set()
        if fire:
            midway()
        return result

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(counted, jobs))


def ledger_transactions(stack: RunningStack, tenant_id: str) -> dict[str, tuple[int, int]]:
    """reference_id -> (how many transactions, the sum of their debit entries)."""

    async def read() -> dict[str, tuple[int, int]]:
        conn = await asyncpg.connect(stack.dsn("ledger"))
        try:
            rows = await conn.fetch(
                "SELECT t.reference_id, count(DISTINCT t.id) AS n, sum(e.amount) AS debited"
                " FROM transactions t JOIN entries e ON e.transaction_id = t.id"
                " WHERE t.tenant_id = $1 AND e.direction = 'debit' GROUP BY t.reference_id",
                tenant_id,
            )
        finally:
            await conn.close()
        return {r["reference_id"]: (int(r["n"]), int(r["debited"])) for r in rows}

    return asyncio.run(read())


def events_of(client: Client, type: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = ""
    while True:
        cursor = f"&starting_after={after}" if after else ""
        page = ok(client.send("GET", f"/events?type={type}&limit=100{cursor}"))
        found += page["data"]
        if not page["has_more"]:
            return found
        after = page["data"][-1]["id"]


class TestReplicas:
    def test_every_app_runs_twice_and_each_replica_serves(self, stack: RunningStack) -> None:
        found = replicas(stack)
        assert {app: len(rows) for app, rows in found.items()} == dict.fromkeys(APPS, REPLICAS)
        for app, rows in found.items():
            path = "/health" if app == "gateway" else "/ready"
            for row in rows:
                url = f"http://127.0.0.1:{row['port']}{path}"
                assert httpx.get(url, timeout=10).status_code == 200, url

    def test_load_through_both_gateways_survives_sigkills(
        self, stack: RunningStack, tmp_path: Path
    ) -> None:
        shop = Tenant(stack)
        bases = gateways(stack)
        client = Client(bases, shop.headers)
        env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
        env.pop("MICRO_API_KEY", None)
        with contextlib.ExitStack() as running:
            running.callback(client.close)
            endpoints = [running.enter_context(receiver()) for _ in range(2)]
            for app in endpoints:
                made = ok(client.send("POST", "/webhook_endpoints", {
                    "url": app.url, "enabled_events": ["payment_intent.succeeded"]}))  # fmt: skip
                app.secret = made["secret"]
            # One `micro listen` on each gateway, each forwarding to an app of its own.
            listeners = [running.enter_context(receiver()) for _ in bases]
            for app, base in zip(listeners, bases, strict=True):
                listen = Listen(["--forward-to", app.url, "--api-key", shop.secret,
                                 "--api-base", base], env)  # fmt: skip
                running.callback(listen.stop)
                app.secret = listen.wait_for(READY.pattern, within=60).group(1)
            self._load_and_check(stack, client, shop, endpoints, listeners)

    def _load_and_check(
        self,
        stack: RunningStack,
        client: Client,
        shop: Tenant,
        endpoints: list[Receiver],
        listeners: list[Receiver],
    ) -> None:
        wallets = [
            ok(client.send("POST", "/wallet", {"owner": f"cus_{n}", "currency": "usd"}), 201)["id"]
            for n in range(WALLETS)
        ]
        for wallet in wallets:
            ok(client.send("POST", "/wallet/deposit", {"wallet_id": wallet, "amount": FUNDING}))
        amounts = [random.randint(100, 10_000) for _ in range(INTENTS)]

        def pay(amount: int) -> Callable[[], dict[str, Any]]:
            def job() -> dict[str, Any]:
                made = ok(client.send("POST", "/payments/payment_intents",
                                      {"amount": amount, "currency": "usd"}))  # fmt: skip
                return ok(client.send("POST", f"/payments/payment_intents/{made['id']}/confirm",
                                      {"payment_method": "pm_card_visa"}))  # fmt: skip

            return job

        def transfer() -> Callable[[], dict[str, Any]]:
            source, target = random.sample(wallets, 2)
            amount = random.randint(1, 100)
            body = {"from_wallet_id": source, "to_wallet_id": target, "amount": amount}
            return lambda: ok(client.send("POST", "/wallet/transfer", body))

        jobs = [pay(a) for a in amounts] + [transfer() for _ in range(TRANSFERS)]
        random.shuffle(jobs)
        killed: dict[str, int] = {}
        results = run_all(jobs, midway=lambda: killed.update(kill_one_of_each(stack)))
        assert sorted(killed) == sorted(KILLED)

        intents = [r for r in results if r["object"] == "payment_intent"]
        transfers = [r for r in results if r["object"] != "payment_intent"]
        assert (len(intents), len(transfers)) == (INTENTS, TRANSFERS)
        assert Counter(i["status"] for i in intents) == {"succeeded": INTENTS}
        assert sorted(i["amount"] for i in intents) == sorted(amounts)
        assert Counter(t["status"] for t in transfers) == {"succeeded": TRANSFERS}
        assert len({t["id"] for t in transfers}) == TRANSFERS

        # One ledger transaction per intent, for its amount (the relay may still be posting).
        by_intent = {i["id"]: i["amount"] for i in intents}
        assert len(by_intent) == INTENTS

        def posted() -> bool:
            found = ledger_transactions(stack, shop.tenant_id)
            return all(found.get(i) == (1, amount) for i, amount in by_intent.items())

        eventually(posted, within=120, what="one ledger transaction per intent")
        balances = [ok(client.send("GET", f"/wallet/{w}/balance"))["available"] for w in wallets]
        assert sum(balances) == WALLETS * FUNDING

        ledger_env = {**stack.env, "MICRO_LEDGER_DATABASE_URL": stack.dsn("ledger")}
        verify = micro("ledger", "verify", "--json", env=ledger_env)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert json.loads(verify.stdout)["ok"] is True

        # The wallet's deposits are payment intents too: only the load's are counted. An event
        # reaches the events service through the outbox and Redis, after the answer; one whose
        # events replica was killed mid-read is claimed by the other after it sat idle.
        events: dict[str, str] = {}

        def logged() -> bool:
            events.update(
                (e["data"]["object"]["id"], e["id"])
                for e in events_of(client, "payment_intent.succeeded")
            )
            return set(by_intent) <= set(events)

        eventually(logged, within=120, what="an event for every intent")
        wanted = {events[i] for i in by_intent}
        for app in [*endpoints, *listeners]:
            eventually(
                lambda app=app: wanted <= {r.event_id for r in app.delivered()},  # type: ignore[misc]
                within=120,
                what=f"every event at {app.url}",
            )
            assert all(r.verified for r in app.delivered()), f"a bad signature at {app.url}"

        # The stack brought every killed replica back.
        eventually(
            lambda: all(replicas(stack)[app][1]["pid"] != pid for app, pid in killed.items()),
            within=120,
            what="every killed replica restarted",
        )
        assert client.retries > 0  # the kills were felt, and ridden out

    def test_a_100_per_minute_key_gets_100_of_150_over_both_gateways(
        self, stack: RunningStack
    ) -> None:
        with stack.client() as gw:
            owner = register(gw)
            headers = key_headers(create_key(gw, owner)["secret"])
        clients = [httpx.Client(base_url=b, timeout=30) for b in gateways(stack)]
        start = threading.Barrier(50)

        def one(n: int) -> int:
            if n < 50:
                start.wait()
            response = clients[n % 2].get("/ledger/accounts?limit=1", headers=headers)
            return response.status_code

        try:
            with ThreadPoolExecutor(50) as pool:
                statuses = Counter(pool.map(one, range(150)))
        finally:
            for http in clients:
                http.close()
        assert statuses == {200: 100, 429: 50}
