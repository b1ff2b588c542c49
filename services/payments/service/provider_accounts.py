"""Which provider account an intent or payout goes through, and its secrets.

A tenant may store its own account per provider and mode (secret parts Fernet-encrypted at
rest with the service's `credentials_key`); otherwise the platform's default account from
settings is used. The account chosen is recorded on the object ('tenant' or 'platform') so
that later webhooks and re-verification use the same one.

Live mode is real money, and every path that moves it resolves its provider here, so the
rules live here: the simulator and its test methods exist in test mode only. In live mode a
known test method or card is declined as Stripe declines it (402 `card_declined`,
decline_code `live_mode_test_card`), and the simulator, or a provider with no live account
for the tenant or the platform, is a 400 `provider_not_configured`. The platform has an
account per provider and mode (settings `<provider>_test_secret_key`/`_live_secret_key`, or
the single `<provider>_secret_key`, which serves the mode its prefix says: Paystack
`sk_live_`, Flutterwave `FLWSECK-` are live); each knows its mode, so a platform webhook
signed with one mode's secret applies to that mode's objects only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

import aiohttp

from services.payments.metrics import MeasuredProvider
from services.payments.providers.base import Provider
from services.payments.providers.flutterwave import Flutterwave
from services.payments.providers.http import ProviderClient
from services.payments.providers.paystack import Paystack
from services.payments.providers.simulator import Simulator, simulated_method
from services.payments.repository import providers as providers_repo
from services.payments.repository.providers import CredentialsRow
from services.payments.repository.simulator_journal import SimulatorJournal
from services.payments.settings import PaymentsSettings
from services.payments.settings import is_live_key as is_live_key  # where callers found it
from shared.cipher import Cipher
from shared.db import Connection
from shared.errors import CardError, InvalidRequestError

HOSTED = ("paystack", "flutterwave")
Owner = Literal["platform", "tenant"]


class LiveModeTestCardError(CardError):
    def __init__(self) -> None:
        super().__init__(
            "Your card was declined. Your request was in live mode, but used a known test card.",
            code="card_declined",
            param="payment_method",
            extra={"decline_code": "live_mode_test_card"},
        )


class ProviderNotConfiguredError(InvalidRequestError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="provider_not_configured", param="provider")


def refuse_in_live_mode(*, livemode: bool, provider: str, payment_method: str | None) -> None:
    """Nothing simulated moves live money: a test method is a decline, the simulator is no
    provider."""
    if not livemode:
        return
    if payment_method is not None and simulated_method(payment_method) is not None:
        raise LiveModeTestCardError()
    if provider == "simulator":
        raise ProviderNotConfiguredError(
            "The simulator exists in test mode only: live payments and payouts need a real "
            "provider. Add a live paystack or flutterwave account with PUT "
            "/payments/providers/{provider} (with a live key) and pass provider."
        )


@dataclass(frozen=True, slots=True)
class Account:
    """One provider account's secrets, decrypted in memory only."""

    provider: str
    owner: Owner
    secret_key: str
    webhook_secret: str | None
    livemode: bool | None = None  # the mode the account serves


class ProviderSource:
    """Builds the provider client for an account: one per call, sharing one HTTP pool."""

    def __init__(self, settings: PaymentsSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http
        self.cipher = Cipher(
            settings.credentials_key,
            what="provider credentials",
            setting="credentials_key",
            code="credentials_unreadable",
        )

    def build(self, account: Account | None, provider: str) -> Provider:
        if provider == "simulator" or account is None:
            return Simulator()
        base = (
            self.settings.paystack_base_url
            if provider == "paystack"
            else self.settings.flutterwave_base_url
        )
        client = ProviderClient(
            self.http,
            base_url=base,
            headers={"Authorization": f"Bearer {account.secret_key}"},
            timeout=self.settings.provider_timeout,
            name=provider.capitalize(),
        )
        remote = Paystack(client) if provider == "paystack" else Flutterwave(client)
        return cast(Provider, MeasuredProvider(remote))

    def platform(self, provider: str, *, livemode: bool) -> Account | None:
        """The platform's default account for a provider in one mode."""
        found = self.settings.platform_secrets(provider, livemode=livemode)
        if found is None:
            return None
        key, hook = found
        return Account(provider, "platform", key, hook, livemode=livemode)

    def platform_accounts(self, provider: str) -> list[Account]:
        """The platform's accounts for a provider, test mode's first."""
        found = (self.platform(provider, livemode=livemode) for livemode in (False, True))
        return [account for account in found if account is not None]

    async def tenant(
        self, conn: Connection, *, tenant_id: str, livemode: bool, provider: str
    ) -> Account | None:
        row = await providers_repo.get_credentials(
            conn, tenant_id=tenant_id, livemode=livemode, provider=provider
        )
        return self._account(row) if row is not None else None

    async def tenant_accounts(
        self, conn: Connection, *, tenant_id: str, provider: str
    ) -> list[Account]:
        rows = await providers_repo.tenant_credentials(conn, tenant_id=tenant_id, provider=provider)
        return [self._account(row) for row in rows]

    def _account(self, row: CredentialsRow) -> Account:
        secret = self.cipher.decrypt(row.secret_key)
        hook = row.webhook_secret
        return Account(
            row.provider,
            "tenant",
            secret,
            self.cipher.decrypt(hook) if hook is not None else None,
            livemode=row.livemode,
        )

    async def choose(
        self,
        conn: Connection,
        *,
        tenant_id: str,
        livemode: bool,
        provider: str,
        payment_method: str | None = None,
    ) -> tuple[Provider, Owner]:
        """The account a new intent or payout uses: the tenant's own, else the platform's."""
        refuse_in_live_mode(livemode=livemode, provider=provider, payment_method=payment_method)
        if provider == "simulator":
            # It writes down what it does in its own book (reconciled against later).
            return Simulator(SimulatorJournal(conn, tenant_id=tenant_id, livemode=livemode)), (
                "platform"
            )
        account = await self.tenant(conn, tenant_id=tenant_id, livemode=livemode, provider=provider)
        account = account or self.platform(provider, livemode=livemode)
        if account is None:
            mode = "live" if livemode else "test"
            raise ProviderNotConfiguredError(
                f"No {mode}-mode {provider} account is configured for this tenant or the "
                f"platform: add one with PUT /payments/providers/{provider} (with a {mode} "
                "key)."
            )
        return self.build(account, provider), account.owner

    async def of(
        self,
        conn: Connection,
        *,
        tenant_id: str,
        livemode: bool,
        provider: str,
        owner: str,
        payment_method: str | None = None,
    ) -> Provider | None:
        """The provider client for an existing object; None when its account is gone.
        `payment_method`: the one about to be charged, refused in live mode if simulated."""
        if livemode and payment_method is not None:
            refuse_in_live_mode(livemode=True, provider=provider, payment_method=payment_method)
        if provider == "simulator":
            # A live object on the simulator (made before live mode meant real money) has
            # no provider that could move its money.
            return (
                None
                if livemode
                else Simulator(SimulatorJournal(conn, tenant_id=tenant_id, livemode=livemode))
            )
        account = (
            await self.tenant(conn, tenant_id=tenant_id, livemode=livemode, provider=provider)
            if owner == "tenant"
            else self.platform(provider, livemode=livemode)
        )
        return self.build(account, provider) if account is not None else None
