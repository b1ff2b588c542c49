"""Wallet errors; all are subclasses of the shared tree in `shared.errors`.

NotFoundError (404)            WalletNotFoundError, OperationNotFoundError
InvalidRequestError (400)      WalletFrozenError (wallet_frozen),
                               CurrencyMismatchError (currency_mismatch)
InvalidRequestError (402)      InsufficientFundsError (insufficient_funds)
CardError (402)                DepositDeclinedError (card_declined)
PermissionDeniedError (403)    ReadOnlyError (platform admins read, never move money),
                               NotManagerError (a plain user managing wallets)
UpstreamError (503)            Unavailable (shared.internal_client: the ledger or payments did
                               not answer), DriverReplacedError (another driver took over)
"""

from __future__ import annotations

from typing import Any

from shared.errors import (
    CardError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from shared.internal_client import Unavailable


class WalletNotFoundError(NotFoundError):
    def __init__(self, wallet_id: str, param: str = "id") -> None:
        super().__init__(f"No such wallet: {wallet_id!r}.", param=param)


class OperationNotFoundError(NotFoundError):
    def __init__(self, operation_id: str) -> None:
        super().__init__(f"No such wallet operation: {operation_id!r}.", param="id")


class WalletFrozenError(InvalidRequestError):
    def __init__(self, wallet_id: str, param: str) -> None:
        super().__init__(
            f"Wallet {wallet_id!r} is frozen: it can receive money but not send it.",
            code="wallet_frozen",
            param=param,
        )


class CurrencyMismatchError(InvalidRequestError):
    def __init__(self, have: str, want: str, param: str) -> None:
        super().__init__(
            f"Wallet currencies differ: {have} and {want}.", code="currency_mismatch", param=param
        )


class InsufficientFundsError(InvalidRequestError):
    status = 402

    def __init__(self, wallet_id: str, operation: dict[str, Any] | None = None) -> None:
        super().__init__(
            f"Wallet {wallet_id!r} does not have enough available funds.",
            code="insufficient_funds",
            param="amount",
            extra={"operation": operation} if operation else None,
        )


class DepositDeclinedError(CardError):
    def __init__(self, message: str, *, decline_code: str | None, operation: dict[str, Any]):
        super().__init__(
            message,
            code="card_declined",
            param="payment_method",
            extra={"decline_code": decline_code, "operation": operation},
        )


class ReadOnlyError(PermissionDeniedError):
    def __init__(self) -> None:
        super().__init__(
            "Platform admins can read every tenant's wallets but not act for a tenant.",
            code="platform_admin_read_only",
        )


class NotManagerError(PermissionDeniedError):
    def __init__(self, action: str) -> None:
        super().__init__(
            f"Only the tenant's admins and API keys can {action}.", code="role_required"
        )


class DriverReplacedError(Unavailable):
    """This driver's lease ran out and another driver took the operation over: the step's
    outcome is dropped (the other driver repeats the step, which is idempotent), and the
    operation is answered as it stands, pending."""

    def __init__(self, operation_id: str) -> None:
        super().__init__("wallet", f"operation {operation_id} was taken over by another driver")
