"""Everything the schemathesis run (tests/e2e/test_schemathesis.py) does not hold Micro to.

The ONE place where a check is switched off or narrowed, each with its reason. An entry here
is a known gap between the document and the behaviour that the document cannot express, not
a way to make a failure go away: a new failure is fixed in the code or in the document.
"""

from __future__ import annotations

from typing import Any

# Every check schemathesis has; the run enables each one not in CHECKS_OFF.
ALL_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
    "object_level_authorization",
)

# check name -> why it is off for the whole run.
CHECKS_OFF: dict[str, str] = {}

# Generation settings that differ from schemathesis's defaults, with the reason.
GENERATION: dict[str, tuple[Any, str]] = {
    "allow-x00": (
        False,
        "PostgreSQL text cannot hold U+0000, so every string parameter refuses a NUL with a "
        "400 naming the field (shared/body.py); the document does not repeat that on each "
        "of several hundred string fields.",
    ),
}

# What the run changes in a request before sending it (tests/e2e/test_schemathesis.py's
# `before_call` hook), with the reason. Each makes the request what a real client sends.
REQUEST_ADJUSTMENTS: dict[str, str] = {
    "fresh Idempotency-Key": "a client makes one key per intended operation; drawn keys repeat "
    "across different requests, and each repeat is the 400 idempotency_key_reused it should "
    "be (tests/shared/test_idempotency.py), not a conformance failure",
    "no null in a form": "a form has no null: schemathesis writes `field=null`, Stripe's "
    "clients leave the field out, which is what the run sends",
    "no object in a form": "schemathesis writes an object's keys (a metadata's) into a form "
    "as top-level fields, which no client sends and Micro refuses as unknown parameters; "
    "Stripe's clients send `metadata[key]=value` (tests/e2e/test_conformance.py, the SDK "
    "tests), which a form's schema cannot say, so the run leaves such a field out",
    "integers as integers": "JSON Schema's `integer` takes 392.0 as well as 392; Micro "
    "refuses a float where an integer belongs, by design (money has no floats: "
    "tests/ledger/test_transactions.py test_non_integer_json_amount_is_refused), which "
    "`type: integer` cannot say, so the run sends 392",
    "one cursor": "starting_after and ending_before together are a 400, as in Stripe; JSON "
    "Schema cannot say two query parameters exclude each other, so the run sends only "
    "starting_after (both are tested in tests/shared/test_pagination.py)",
}

# Checks switched off on one operation, with the reason.
CHECKS_OFF_FOR: dict[tuple[str, str], str] = {}

# Failures that say nothing about Micro because schemathesis sent the two requests as two
# different identities, by check, with the reason. Printed by the run, not counted.
ACROSS_IDENTITIES: dict[str, str] = {
    "ensure_resource_availability": "schemathesis picks an identity per operation (its WFC "
    "escalation, schemathesis/wfc/escalation.py, moves one operation on to the next identity "
    "after a 401 or 403, e.g. once the run has demoted or signed out the first), so the POST "
    "that made a resource and the GET or DELETE that followed its link can go out as two "
    "tenants, and the second tenant's 404 is the isolation Micro promises "
    "(object_level_authorization holds Micro to it). The failure once seen on DELETE "
    "/auth/api_keys/{key_id} was of this shape as far as the report showed (made by "
    "tenant_c_admin); the run now prints both identities. On one identity the check stays "
    "on for every operation",
}

# A 502 `provider_unavailable`, printed by the run, not counted. The run may store a Paystack
# or Flutterwave account for its tenant (PUT /payments/providers/{provider}) and then pay or
# pay out through it; the stack has no route to the providers' hosts, so the call cannot
# leave, and 502 provider_unavailable, nothing charged, is the right answer (as
# tests/payments/test_providers.py and tests/payments/test_failover.py show against the fakes).
# schemathesis's not_a_server_error counts every 5xx; any other server error still counts.
PROVIDER_UNREACHABLE = (
    "the stack cannot reach the providers' hosts: an account the run stored is unreachable"
)

# Operations the run leaves out, with the reason.
OPERATIONS_OFF: dict[str, str] = {
    "GET /cli/listen": "a WebSocket (described in the document for readers); schemathesis "
    "speaks HTTP only. tests/e2e/test_listen.py drives it with a WebSocket client",
}

# Rules no JSON Schema can state: the data is well formed and the answer is a 400 that names
# the rule. positive_data_acceptance accepts a 400 on these operations only.
RULES_BEYOND_THE_SCHEMA: dict[str, str] = {
    "POST /ledger/transactions": "entries must balance per currency, reference accounts of "
    "the tenant in the entry's currency; expires_at only with pending",
    "POST /ledger/transactions/batch": "each item as POST /ledger/transactions",
    "POST /ledger/transactions/{transaction_id}/post": "a partial amount only for a "
    "two-entry hold, and at most the held amount",
}

# Stripe's `/v1` paths (gateway/docs.py `stripe_paths`): each is a native operation under
# Stripe's name, served by the native handler. tests/gateway/test_openapi.py TestStripePaths
# proves each documented operation equal to its native one (plus `Stripe-Version` and
# `Request-Id`) and routed to the same handler, so the run does not spend its budget on them
# twice: a few examples each, through the rewrite, with every check on (the `/v1` answers'
# own headers and list urls included); the coverage and stateful phases stay on the native
# operations. Bounded as the rest by MICRO_SCHEMATHESIS_SECONDS.
STRIPE_ALIASES: dict[str, Any] = {
    "include-path-regex": "^/v1/",
    "generation": {"max-examples": 5},
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
}

# schemathesis's default for positive_data_acceptance, plus 402: a well-formed payment or
# withdrawal the money refuses (a declined card, insufficient funds) is answered 402, as
# Stripe answers it; that is not a data rejection.
POSITIVE_STATUSES = ["2xx", "3xx", "401", "402", "403", "404", "409", "429", "5xx"]


def operation_overrides() -> list[dict[str, Any]]:
    """schemathesis `[[operations]]` entries for STRIPE_ALIASES, OPERATIONS_OFF and
    RULES_BEYOND_THE_SCHEMA."""
    overrides: list[dict[str, Any]] = [STRIPE_ALIASES]
    for label in OPERATIONS_OFF:
        method, path = label.split(" ", 1)
        overrides.append({"include-method": method, "include-path": path, "enabled": False})
    for (check, label), _ in CHECKS_OFF_FOR.items():
        method, path = label.split(" ", 1)
        overrides.append(
            {"include-method": method, "include-path": path, "checks": {check: {"enabled": False}}}
        )
    for label in RULES_BEYOND_THE_SCHEMA:
        method, path = label.split(" ", 1)
        overrides.append(
            {
                "include-method": method,
                "include-path": path,
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": [*POSITIVE_STATUSES, "400"]}
                },
            }
        )
    return overrides


# Failures still open, printed by the run but not counted. Keys are (check, "METHOD /path");
# for status_code_conformance the check carries the status (`status_code_conformance:404`).
# Seed aliases (/api/...) and Stripe's paths (/v1/...) count as their native path. Empty, and
# a run is held to that: an entry is a failure understood and not yet fixed, deleted once fixed.
DOCUMENT_GAPS: dict[tuple[str, str], str] = {}
