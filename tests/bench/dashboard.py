"""The dashboard's payments pages with 10,000 payments in the tenant: server time per page.

A whole stack; one tenant whose payments table is filled directly (10,000 intents over the
last week, a quarter succeeded), then each page asked for 20 times by a signed-in no-JS
client: home (balances, the week's volume chart, recent payments), the list, the list
filtered by status, by provider and by date, its page 40, and one payment's page. The issue's
target is under 300 ms per page on the dev stack (figures printed, not asserted).
"""

from __future__ import annotations

import statistics
import time

import asyncpg

from tests.bench._stack import BENCH_ENV, bench_stack, urls
from tests.e2e.accounts import PASSWORD, unique_email
from tests.support.dashboard import DashboardClient

PAYMENTS = 10_000
ROUNDS = 20
TARGET_MS = 300


async def main() -> None:
    # Each page makes several API calls as the signed-in user: the per-session limit is lifted.
    async with bench_stack(
        {**BENCH_ENV, "MICRO_GATEWAY_SESSION_RATE_LIMIT": "1000000000"}
    ) as stack:
        base = urls(stack)["gateway"]
        email = unique_email("bench")
        with DashboardClient(base) as client:
            made = client.http.post("/auth/register", json={"email": email, "password": PASSWORD})
            made.raise_for_status()
            tenant_id = made.json()["user"]["tenant_id"]
            conn = await asyncpg.connect(stack.dsn("payments"))
            try:
                await conn.execute(
                    """
                    INSERT INTO payment_intents (id, tenant_id, livemode, amount,
                        amount_received, currency, status, provider, created_at)
                    SELECT 'pi_bench' || lpad(n::text, 6, '0'), $1, false, 1000 + n,
                        CASE WHEN n % 4 = 0 THEN 1000 + n ELSE 0 END, 'usd',
                        (ARRAY['succeeded', 'canceled', 'requires_payment_method',
                               'requires_capture'])[n % 4 + 1],
                        CASE WHEN n % 10 = 0 THEN 'paystack' ELSE 'simulator' END,
                        now() - make_interval(secs => ($2 - n) * 60)
                    FROM generate_series(1, $2) AS n
                    """,
                    tenant_id,
                    PAYMENTS,
                )
                await conn.execute("ANALYZE payment_intents")
            finally:
                await conn.close()
            assert client.sign_in(email).status_code == 200
            day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 3 * 86400))
            pages = {
                "home": "/dashboard/",
                "list": "/dashboard/payments",
                "list status=succeeded": "/dashboard/payments?status=succeeded",
                "list provider=paystack": "/dashboard/payments?provider=paystack",
                "list to=3 days ago": f"/dashboard/payments?to={day}",
                "list page 40": "/dashboard/payments?starting_after=pi_bench009000",
                "one payment": "/dashboard/payments/pi_bench005000",
            }
            print(f"{PAYMENTS} payments; {ROUNDS} requests per page; target {TARGET_MS} ms")
            for name, path in pages.items():
                took = []
                for _ in range(ROUNDS):
                    began = time.perf_counter()
                    answer = client.get(path)
                    took.append((time.perf_counter() - began) * 1000)
                    assert answer.status_code == 200, (path, answer.status_code)
                took.sort()
                p95 = took[int(len(took) * 0.95) - 1]
                verdict = "ok" if p95 < TARGET_MS else "SLOW"
                print(
                    f"  {name:<24} median {statistics.median(took):6.1f} ms  "
                    f"p95 {p95:6.1f} ms  {verdict}"
                )
