"""The pure rules behind live mode and socket closing, table-driven (no servers)."""

from __future__ import annotations

import pytest

from gateway.watchers import Watchers, describe
from services.payments.providers.simulator import simulated_method
from services.payments.service.provider_accounts import (
    LiveModeTestCardError,
    ProviderNotConfiguredError,
    is_live_key,
    refuse_in_live_mode,
)
from shared.credentials import TenantState


@pytest.mark.parametrize(
    ("value", "method"),
    [
        ("pm_card_visa", "pm_card_visa"),
        ("pm_card_chargeDeclined", "pm_card_chargeDeclined"),
        ("4242424242424242", "pm_card_visa"),
        ("4242 4242 4242 4242", "pm_card_visa"),
        ("4242-4242-4242-4242", "pm_card_visa"),
        ("5555555555554444", "pm_card_mastercard"),
        ("378282246310005", "pm_card_amex"),
        ("4000000000009995", "pm_card_visa_chargeDeclinedInsufficientFunds"),
        ("4000002500003155", "pm_card_authenticationRequired"),
        ("4111111111111112", None),
        ("pm_card_unknown", None),
        ("", None),
    ],
)
def test_test_methods_and_cards(value: str, method: str | None) -> None:
    assert simulated_method(value) == method


@pytest.mark.parametrize(
    ("provider", "key", "live"),
    [
        ("paystack", "sk_live_abc", True),
        ("paystack", "sk_test_abc", False),
        ("paystack", "abc", False),
        ("flutterwave", "FLWSECK-abc-X", True),
        ("flutterwave", "FLWSECK_TEST-abc-X", False),
        ("flutterwave", "sk_live_abc", False),
        ("simulator", "sk_live_abc", False),
    ],
)
def test_a_key_is_live_only_as_its_provider_marks_it(provider: str, key: str, live: bool) -> None:
    assert is_live_key(provider, key) is live


class TestRefuseInLiveMode:
    @pytest.mark.parametrize("provider", ["simulator", "paystack", "flutterwave"])
    @pytest.mark.parametrize("method", [None, "pm_card_visa", "4242424242424242"])
    def test_test_mode_allows_everything(self, provider: str, method: str | None) -> None:
        refuse_in_live_mode(livemode=False, provider=provider, payment_method=method)

    @pytest.mark.parametrize("provider", ["simulator", "paystack"])
    @pytest.mark.parametrize("method", ["pm_card_visa", "4000000000000002", "pm_card_amex"])
    def test_a_test_method_is_declined_before_anything_else(
        self, provider: str, method: str
    ) -> None:
        with pytest.raises(LiveModeTestCardError) as raised:
            refuse_in_live_mode(livemode=True, provider=provider, payment_method=method)
        body = raised.value.body("req_1")["error"]
        assert (raised.value.status_code, body["type"], body["code"], body["decline_code"]) == (
            402,
            "card_error",
            "card_declined",
            "live_mode_test_card",
        )

    def test_the_simulator_is_no_live_provider(self) -> None:
        with pytest.raises(ProviderNotConfiguredError) as raised:
            refuse_in_live_mode(livemode=True, provider="simulator", payment_method=None)
        assert (raised.value.status_code, raised.value.code, raised.value.param) == (
            400,
            "provider_not_configured",
            "provider",
        )

    def test_a_real_provider_without_a_method_passes(self) -> None:
        refuse_in_live_mode(livemode=True, provider="paystack", payment_method=None)


class TestWatchers:
    def test_a_revocation_ends_the_sockets_of_that_credential_only(self) -> None:
        watchers = Watchers()
        with (
            watchers.watch(tenant_id="ten_a", livemode=False, credential="k1") as one,
            watchers.watch(tenant_id="ten_a", livemode=False, credential="k1") as two,
            watchers.watch(tenant_id="ten_a", livemode=False, credential="k2") as other,
        ):
            watchers.revoked("k1", "api_key_revoked")
            watchers.revoked("k1", "session_ended")  # the first reason stays
            assert [w.reason for w in (one, two, other)] == ["api_key_revoked"] * 2 + [""]
            assert not other.ended.is_set()
        assert not watchers.watching("ten_a")

    @pytest.mark.parametrize(
        ("status", "live_mode", "test_reason", "live_reason"),
        [
            ("active", "on", "", ""),
            ("active", "off", "", "live_mode_disabled"),
            ("active", "requested", "", "live_mode_disabled"),
            ("disabled", "on", "tenant_disabled", "tenant_disabled"),
        ],
    )
    def test_a_tenant_change_ends_what_it_no_longer_allows(
        self, status: str, live_mode: str, test_reason: str, live_reason: str
    ) -> None:
        watchers = Watchers()
        with (
            watchers.watch(tenant_id="ten_a", livemode=False, credential="k1") as test,
            watchers.watch(tenant_id="ten_a", livemode=True, credential="k2") as live,
            watchers.watch(tenant_id="ten_b", livemode=True, credential="k3") as elsewhere,
        ):
            watchers.tenant_changed(TenantState("ten_a", status, live_mode))
            assert (test.reason, live.reason, elsewhere.reason) == (test_reason, live_reason, "")

    def test_reasons_fit_a_close_frame(self) -> None:
        for reason in ("api_key_revoked", "refresh_token_reused", "live_mode_disabled", "x"):
            assert describe(reason).startswith(f"{reason}: ")
            assert len(describe(reason).encode()) <= 120
