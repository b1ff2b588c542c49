"""The gateway's own counters, beside the request metrics every app has."""

from __future__ import annotations

from prometheus_client import Counter

RATE_LIMITED = Counter("micro_gateway_rate_limited_total", "Requests refused with 429.", ["bucket"])
UPSTREAM_ERRORS = Counter(
    "micro_gateway_upstream_errors_total",
    "Upstream calls that failed, one per replica tried (connect, timeout, protocol).",
    ["service", "kind"],
)
UPSTREAM_RETRIES = Counter(
    "micro_gateway_upstream_retries_total",
    "Requests sent on to another replica after one failed (connect: nothing was sent; "
    "disconnect: the answer was lost and the request was safe to replay).",
    ["service", "reason"],
)
REDIS_UNAVAILABLE = Counter(
    "micro_gateway_redis_unavailable_total",
    "Times Redis could not be used, so the gateway failed open.",
    ["operation"],
)
AUTH_FAILURES = Counter(
    "micro_gateway_auth_failures_total", "Requests refused for their credential.", ["reason"]
)
