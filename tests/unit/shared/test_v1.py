"""Stripe's /v1 paths reach the native routes, and lists name the path the client asked for."""

from __future__ import annotations

import pytest

from gateway.routing import Access, resolve
from shared.v1 import PATHS, native_path, public_path


@pytest.mark.parametrize(
    ("path", "service", "native"),
    [
        ("/v1/payment_intents", "payments", "/payments/payment_intents"),
        ("/v1/payment_intents/pi_1/confirm", "payments", "/payments/payment_intents/pi_1/confirm"),
        ("/v1/customers/cus_1", "payments", "/payments/customers/cus_1"),
        ("/v1/payment_methods/pm_card_visa/attach", "payments",
         "/payments/payment_methods/pm_card_visa/attach"),
        ("/v1/refunds", "payments", "/payments/refunds"),
        ("/v1/payouts/po_1", "payments", "/payments/payouts/po_1"),
        ("/v1/balance", "ledger", "/ledger/balance"),
        ("/v1/events/evt_1", "events", "/events/evt_1"),
        ("/v1/webhook_endpoints/we_1", "events", "/webhook_endpoints/we_1"),
    ],
)  # fmt: skip
def test_a_v1_path_reaches_the_native_route_as_stripe(path: str, service: str, native: str) -> None:
    target = resolve(path)
    assert target is not None
    assert (target.rule.service, target.path, target.dialect) == (service, native, "stripe")
    assert target.rule.access is Access.API
    assert public_path(native, "stripe") == path


@pytest.mark.parametrize(
    "path", ["/v1", "/v1/", "/v1/charges", "/v1/payment_intentsX", "/v1/tenants", "/v1/auth/login"]
)
def test_what_micro_does_not_serve_on_v1_is_no_route(path: str) -> None:
    assert resolve(path) is None


def test_native_paths_stay_native() -> None:
    target = resolve("/payments/payment_intents")
    assert target is not None
    assert target.dialect == "micro"
    assert public_path("/payments/payment_intents", "micro") == "/payments/payment_intents"
    assert native_path("/payments/payment_intents") is None


def test_every_v1_resource_has_one_native_home() -> None:
    natives = [native for _, native in PATHS]
    assert len(set(natives)) == len(natives)
    assert all(resolve(native) is not None for native in natives)
