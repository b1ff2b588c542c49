from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from services.payments.service.route_rules import parse_default
from shared import secrets
from shared.settings import HTTP_PORTS, DatabaseSettings, check_upstream_urls


class PaymentsSettings(DatabaseSettings):
    service = "payments"

    # The ledger service, called directly with an internal identity (never via the gateway):
    # its base URL, or a comma-separated list of its replicas' (round-robin, shared/balancer.py).
    ledger_url: str = f"http://127.0.0.1:{HTTP_PORTS['ledger']}"
    # Seconds between outbox relay rounds (a commit also wakes it at once).
    relay_interval: float = 1.0
    # How long a successful confirm waits for the ledger to take its posting, so a balance
    # read right after it shows the money; the outbox still delivers it later if not.
    ledger_wait: float = 2.0
    # Where clients reach the gateway: redirect URLs handed to customers start with it.
    public_url: str = f"http://localhost:{HTTP_PORTS['gateway']}"

    # Encrypts tenants' provider secrets at rest (MICRO_PAYMENTS_CREDENTIALS_KEY): Fernet
    # keys, comma-separated, the first encrypting. Required, no default (validate_default).
    credentials_key: str = Field(default="", validate_default=True)
    # Seconds one call to a provider may take; past it the payment is left `processing`
    # and re-verified later, never failed and never charged twice.
    provider_timeout: float = 15.0
    paystack_base_url: str = "https://api.paystack.co"
    flutterwave_base_url: str = "https://api.flutterwave.com"
    # The platform's own provider accounts: used by tenants that configured none. One key
    # per provider, serving the mode its prefix says (Paystack `sk_live_`, Flutterwave
    # `FLWSECK-` are live)...
    paystack_secret_key: str = ""
    flutterwave_secret_key: str = ""
    # Flutterwave's webhook "secret hash", sent back to us in the `verif-hash` header.
    flutterwave_secret_hash: str = ""
    # ...or one per provider and mode, so both modes are served at once. A key in the other
    # mode's slot is refused at start; a slot and the single key above may not name two
    # different keys for one mode. Each Flutterwave mode has its own secret hash (its
    # dashboard sets one per mode); the single hash above goes with the single key only.
    paystack_test_secret_key: str = ""
    paystack_live_secret_key: str = ""
    flutterwave_test_secret_key: str = ""
    flutterwave_live_secret_key: str = ""
    flutterwave_test_secret_hash: str = ""
    flutterwave_live_secret_hash: str = ""

    # The platform's default provider routes, per currency, for tenants that set none for
    # it (PUT /payments/routing/{currency}): "ngn=paystack,flutterwave;ghs=flutterwave".
    provider_routes: str = ""

    # The reconciliation job: seconds between rounds; how old a `processing` intent or a
    # `pending` payout must be before its provider is asked again; when an unfinished
    # intent counts as abandoned and is canceled.
    reconcile_interval: float = 60.0
    reconcile_after: float = 30.0
    abandon_after: float = 86_400.0

    @field_validator("ledger_url")
    @classmethod
    def _upstream_urls(cls, value: str) -> str:
        return check_upstream_urls(value)

    @field_validator("provider_routes")
    @classmethod
    def _provider_routes(cls, value: str) -> str:
        parse_default(value)  # refused at start, not at the first payment
        return value

    @field_validator("credentials_key", mode="before")
    @classmethod
    def _credentials_key(cls, value: object) -> str:
        return secrets.check(secrets.CREDENTIALS, value)

    @model_validator(mode="after")
    def _platform_keys_by_mode(self) -> Self:
        for provider in PLATFORM_PROVIDERS:
            for livemode in (False, True):
                slot = _slot(provider, livemode, "key")
                key = getattr(self, slot)
                if key and is_live_key(provider, key) != livemode:
                    raise ValueError(
                        f"MICRO_PAYMENTS_{slot.upper()} holds a {_mode(not livemode)}-mode "
                        f"{provider} key: put it in MICRO_PAYMENTS_"
                        f"{_slot(provider, not livemode, 'key').upper()} (test and live money "
                        "are never served by one another's key)"
                    )
            single = getattr(self, f"{provider}_secret_key")
            if single:
                livemode = is_live_key(provider, single)
                slot = _slot(provider, livemode, "key")
                if getattr(self, slot) not in ("", single):
                    raise ValueError(
                        f"MICRO_PAYMENTS_{provider.upper()}_SECRET_KEY and "
                        f"MICRO_PAYMENTS_{slot.upper()} name two different {_mode(livemode)}-"
                        f"mode {provider} keys: set one of them"
                    )
        return self

    def platform_secrets(self, provider: str, *, livemode: bool) -> tuple[str, str | None] | None:
        """The platform's (secret key, webhook secret) for a provider and mode: the mode's
        own slot, else the single key if it is for that mode; None when neither is."""
        key = getattr(self, _slot(provider, livemode, "key"), "")
        if key:
            hook = (
                getattr(self, _slot(provider, livemode, "hash"), "")
                if provider == "flutterwave"
                else key
            )
            return key, hook or None
        single = getattr(self, f"{provider}_secret_key", "")
        if single and is_live_key(provider, single) == livemode:
            # Paystack signs its webhooks with the secret key itself.
            hook = self.flutterwave_secret_hash if provider == "flutterwave" else single
            return single, hook or None
        return None


# The providers a platform default account may be set for.
PLATFORM_PROVIDERS = ("paystack", "flutterwave")


def is_live_key(provider: str, secret_key: str) -> bool:
    """Whether a provider's secret key is for its live mode, as the provider marks it."""
    if provider == "paystack":
        return secret_key.startswith("sk_live_")
    if provider == "flutterwave":
        return secret_key.startswith("FLWSECK-")
    return False


def _slot(provider: str, livemode: bool, part: Literal["key", "hash"]) -> str:
    return f"{provider}_{_mode(livemode)}_secret_{part}"


def _mode(livemode: bool) -> str:
    return "live" if livemode else "test"
