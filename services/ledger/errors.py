"""Ledger errors; all are subclasses of the shared tree in `shared.errors`.

NotFoundError (404)          AccountNotFoundError, TransactionNotFoundError
InvalidRequestError (400)    UnbalancedError, TransactionStateError
CardError-like (402)         InsufficientFundsError (invalid_request_error, 402)
ConflictError (409)          ReferenceConflictError, CodeTakenError
PermissionDeniedError (403)  ReservedAccountError
"""

from __future__ import annotations

from shared.errors import ConflictError, InvalidRequestError, NotFoundError, PermissionDeniedError
from shared.ids import is_id


class AccountNotFoundError(NotFoundError):
    def __init__(self, account_id: str, param: str | None = "id") -> None:
        message = f"No such account: {account_id!r}."
        if not is_id(account_id, "acc"):
            # Seed examples name accounts like `acc_revenue`: a reference that is not an
            # account id is looked up as the account's `code`, and none has that code yet.
            message += (
                f" It is not an account id, so it was looked up as an account code: create "
                f'the account first with POST /ledger/accounts {{"code": "{account_id}", ...}}, '
                "or use the id (acc_...) that answer returns."
            )
        super().__init__(message, param=param)


class TransactionNotFoundError(NotFoundError):
    def __init__(self, transaction_id: str) -> None:
        super().__init__(f"No such transaction: {transaction_id!r}.", param="id")


class UnbalancedError(InvalidRequestError):
    def __init__(self, currency: str, difference: int) -> None:
        side = "debits" if difference > 0 else "credits"
        super().__init__(
            f"Debits and credits must balance in {currency}: {side} exceed by {abs(difference)}.",
            code="transaction_unbalanced",
            param="entries",
        )


class InsufficientFundsError(InvalidRequestError):
    status = 402

    def __init__(self, account_id: str, param: str | None) -> None:
        super().__init__(
            f"Account {account_id!r} does not allow overdrafts and lacks the available funds.",
            code="insufficient_funds",
            param=param,
        )


class ReferenceConflictError(ConflictError):
    def __init__(self, reference_id: str) -> None:
        super().__init__(
            f"A different transaction already uses reference_id {reference_id!r}.",
            code="reference_conflict",
            param="reference_id",
        )


class CodeTakenError(ConflictError):
    def __init__(self, code: str) -> None:
        super().__init__(
            f"An account with code {code!r} already exists.", code="code_taken", param="code"
        )


class ReservedAccountError(PermissionDeniedError):
    """A tenant's caller on an account of payments or the wallet (shared/ledger_contract)."""

    def __init__(self, ref: str, *, param: str) -> None:
        super().__init__(
            f"Account {ref!r} belongs to Micro's payments or wallet books: only those "
            "services open, post to or change it. It can be read.",
            code="account_reserved",
            param=param,
        )


class TransactionStateError(InvalidRequestError):
    def __init__(self, message: str, code: str = "transaction_unexpected_state") -> None:
        super().__init__(message, code=code, param="id")
