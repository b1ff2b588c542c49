from __future__ import annotations

from pydantic import Field, field_validator

from shared import secrets
from shared.settings import HTTP_PORTS, DatabaseSettings


class PaymentsSettings(DatabaseSettings):
    service = "payments"

    # The ledger service, called directly with an internal identity (never via the gateway).
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
    # The platform's own provider accounts: used by tenants that configured none.
    paystack_secret_key: str = ""
    flutterwave_secret_key: str = ""
    # Flutterwave's webhook "secret hash", sent back to us in the `verif-hash` header.
    flutterwave_secret_hash: str = ""

    # The reconciliation job: seconds between rounds; how old a `processing` intent or a
    # `pending` payout must be before its provider is asked again; when an unfinished
    # intent counts as abandoned and is canceled.
    reconcile_interval: float = 60.0
    reconcile_after: float = 30.0
    abandon_after: float = 86_400.0

    @field_validator("credentials_key", mode="before")
    @classmethod
    def _credentials_key(cls, value: object) -> str:
        return secrets.check(secrets.CREDENTIALS, value)
