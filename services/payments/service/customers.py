"""Customers (`cus_`) and the payment methods attached to them.

A test method (`pm_card_visa`, the simulator's list) is no one's: attaching it to a customer
makes a payment method of that customer's own (`pm_...`), whose card is the test method's,
as Stripe does. An intent may then be paid with it, only if it is the intent's customer's.
A deleted customer keeps answering its id with `deleted: true`; nothing else finds it (its
methods are detached), and a detached method can never be used again. A customer and an
attached method keep the Idempotency-Key they were made under, as intents do
(`service/keys.py`): a rerun finds what its first run made.
"""

from __future__ import annotations

import time
from typing import Any

from services.payments.errors import (
    CustomerNotFoundError,
    NoSuchReferenceError,
    PaymentMethodNotFoundError,
    PaymentMethodUnusableError,
)
from services.payments.providers.simulator import KNOWN_METHODS
from services.payments.repository import customers as customers_repo
from services.payments.repository.customers import CustomerRow, PaymentMethodRow
from services.payments.schemas import (
    AttachRequest,
    Customer,
    CustomerRequest,
    DeletedCustomer,
    PaymentMethod,
    UpdateCustomerRequest,
)
from services.payments.service import events
from services.payments.service.keys import creation_key, made_before
from shared.db import Connection, Pool, transaction
from shared.identity import Identity
from shared.ids import new_id
from shared.pagination import ListParams, page

# -- customers ---------------------------------------------------------------------------------


async def create_customer(
    conn: Connection, identity: Identity, request: CustomerRequest
) -> Customer:
    key = creation_key(identity)
    row = await customers_repo.insert_customer(
        conn,
        id=new_id("cus"),
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        email=request.email,
        name=request.name,
        description=request.description,
        phone=request.phone,
        metadata=request.metadata,
        idempotency_key=key,
    )
    if row is None:
        assert key is not None  # only a keyed create can meet its own key
        found = await customers_repo.get_customer_by_key(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, idempotency_key=key
        )
        return Customer.from_row(made_before(found))
    customer = Customer.from_row(row)
    await _announce(conn, "customer.created", customer, row)
    return customer


async def get_customer(
    pool: Pool, identity: Identity, customer_id: str
) -> Customer | DeletedCustomer:
    async with transaction(pool) as conn:
        row = await _customer(conn, identity, customer_id, deleted_too=True)
    if row.deleted_at is not None:
        return DeletedCustomer(id=row.id)
    return Customer.from_row(row)


async def update_customer(
    conn: Connection, identity: Identity, customer_id: str, request: UpdateCustomerRequest
) -> Customer:
    row = await _customer(conn, identity, customer_id, lock=True)
    changes: dict[str, Any] = request.model_dump(
        exclude_unset=True, exclude_none=True, exclude={"expand", "metadata"}
    )
    if request.metadata is not None:
        changes["metadata"] = merged_metadata(row.metadata, request.metadata)
    if not changes:
        return Customer.from_row(row)
    updated = Customer.from_row(await customers_repo.update_customer(conn, row.id, **changes))
    await _announce(conn, "customer.updated", updated, row)
    return updated


async def delete_customer(
    conn: Connection, identity: Identity, customer_id: str
) -> DeletedCustomer:
    row = await _customer(conn, identity, customer_id, lock=True)
    deleted = await customers_repo.delete_customer(conn, row.id)
    await _announce(conn, "customer.deleted", Customer.from_row(deleted), row)
    return DeletedCustomer(id=row.id)


async def list_customers(
    pool: Pool, identity: Identity, *, params: ListParams, email: str | None
) -> tuple[list[Customer], bool]:
    async with transaction(pool) as conn:
        rows = await customers_repo.list_customers(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, params=params,
            email=email,
        )  # fmt: skip
    shown, has_more = page(rows, params)
    return [Customer.from_row(row) for row in shown], has_more


async def named_customer(
    conn: Connection, identity: Identity, customer_id: str, *, lock: bool = False
) -> CustomerRow:
    """The customer a body names (`customer` on an intent or an attach): 400 if there is none
    in this tenant and mode (or it was deleted). `lock`: until the transaction ends, so a
    deletion (which detaches the customer's methods) waits for it."""
    row = await customers_repo.get_customer(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode,
        customer_id=customer_id, lock=lock,
    )  # fmt: skip
    if row is None or row.deleted_at is not None:
        raise NoSuchReferenceError("customer", customer_id, param="customer")
    return row


def merged_metadata(current: dict[str, Any], sent: dict[str, str]) -> dict[str, Any]:
    """Stripe's update of metadata: the keys sent are set, a key sent empty is removed."""
    merged = {**current, **sent}
    return {key: value for key, value in merged.items() if value != ""}


# -- payment methods ---------------------------------------------------------------------------


async def get_method(pool: Pool, identity: Identity, method_id: str) -> PaymentMethod:
    async with transaction(pool) as conn:
        return await method_of(conn, identity, method_id)


async def method_of(conn: Connection, identity: Identity, method_id: str) -> PaymentMethod:
    """A test method by its name (test mode only), or an attached one of this tenant's."""
    if method_id in KNOWN_METHODS:
        if identity.livemode:
            raise PaymentMethodNotFoundError(method_id)
        return PaymentMethod.of_test_method(method_id, livemode=False, created=_test_created())
    row = await customers_repo.get_method(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, method_id=method_id
    )
    if row is None:
        raise PaymentMethodNotFoundError(method_id)
    return PaymentMethod.from_row(row)


async def attach(
    conn: Connection, identity: Identity, method_id: str, request: AttachRequest
) -> PaymentMethod:
    customer = await named_customer(conn, identity, request.customer, lock=True)
    if method_id in KNOWN_METHODS and not identity.livemode:
        key = creation_key(identity)
        row = await customers_repo.insert_method(
            conn, method_id=new_id("pm"), tenant_id=identity.tenant_scope,
            livemode=identity.livemode, customer_id=customer.id, card_of=method_id,
            idempotency_key=key,
        )  # fmt: skip
        if row is None:
            assert key is not None
            found = await customers_repo.get_method_by_key(
                conn, tenant_id=identity.tenant_scope, livemode=identity.livemode,
                idempotency_key=key,
            )  # fmt: skip
            return PaymentMethod.from_row(made_before(found))
        attached = PaymentMethod.from_row(row)
        await _announce_method(conn, "payment_method.attached", attached, row)
        return attached
    found = await _method(conn, identity, method_id)
    if found.customer_id == customer.id:
        return PaymentMethod.from_row(found)  # attached already: nothing changes
    if found.customer_id is not None:
        raise PaymentMethodUnusableError(
            "The payment method you provided has already been attached to a customer.",
            param="customer",
        )
    raise _detached(method_id)


async def detach(conn: Connection, identity: Identity, method_id: str) -> PaymentMethod:
    if method_id in KNOWN_METHODS and not identity.livemode:
        raise _not_attached()
    found = await _method(conn, identity, method_id, lock=True)
    if found.customer_id is None:
        raise _not_attached()
    row = await customers_repo.detach_method(conn, found.id)
    detached = PaymentMethod.from_row(row)
    await _announce_method(conn, "payment_method.detached", detached, row)
    return detached


async def list_methods(
    pool: Pool,
    identity: Identity,
    *,
    params: ListParams,
    customer_id: str | None,
    type: str | None,
    param: str = "customer",
) -> tuple[list[PaymentMethod], bool]:
    """Attached methods, of one customer or every one; only cards exist here."""
    async with transaction(pool) as conn:
        if customer_id is not None:
            if param == "id":  # the customer is the URL's: 404 as any other
                await _customer(conn, identity, customer_id)
            else:
                await named_customer(conn, identity, customer_id)
        if type not in (None, "card"):
            return [], False
        rows = await customers_repo.list_methods(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, params=params,
            customer_id=customer_id,
        )  # fmt: skip
    shown, has_more = page(rows, params)
    return [PaymentMethod.from_row(row) for row in shown], has_more


async def card_to_charge(
    conn: Connection, *, tenant_id: str, livemode: bool, method: str, customer_id: str | None
) -> str:
    """The test method the simulator charges for `method` on an intent of `customer_id`:
    a test method is itself; an attached one must be that customer's."""
    if method in KNOWN_METHODS:
        return method
    row = await customers_repo.get_method(
        conn, tenant_id=tenant_id, livemode=livemode, method_id=method
    )
    if row is None:
        raise NoSuchReferenceError("PaymentMethod", method, param="payment_method")
    if row.customer_id is None:
        raise _detached(method)
    if row.customer_id != customer_id:
        raise PaymentMethodUnusableError(
            f"The provided PaymentMethod belongs to Customer {row.customer_id!r}; pass that "
            "customer on the PaymentIntent to use it."
            if customer_id is None
            else f"The provided PaymentMethod belongs to another Customer than "
            f"{customer_id!r}, the PaymentIntent's."
        )
    return row.card_of


# -- internals ---------------------------------------------------------------------------------


async def _customer(
    conn: Connection,
    identity: Identity,
    customer_id: str,
    *,
    lock: bool = False,
    deleted_too: bool = False,
) -> CustomerRow:
    row = await customers_repo.get_customer(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode,
        customer_id=customer_id, lock=lock,
    )  # fmt: skip
    if row is None or (row.deleted_at is not None and not deleted_too):
        raise CustomerNotFoundError(customer_id)
    return row


async def _method(
    conn: Connection, identity: Identity, method_id: str, *, lock: bool = False
) -> PaymentMethodRow:
    row = await customers_repo.get_method(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, method_id=method_id,
        lock=lock,
    )  # fmt: skip
    if row is None:
        raise PaymentMethodNotFoundError(method_id)
    return row


def _detached(method_id: str) -> PaymentMethodUnusableError:
    return PaymentMethodUnusableError(
        f"The PaymentMethod {method_id!r} was detached from its Customer. It may not be used "
        "again; attach a new one."
    )


def _not_attached() -> PaymentMethodUnusableError:
    return PaymentMethodUnusableError(
        "The payment method you provided is not attached to a customer so detachment is impossible."
    )


def _test_created() -> int:
    # Stripe makes a fresh test method per request: its `created` is now.
    return int(time.time())


async def _announce(conn: Connection, type: str, customer: Customer, row: CustomerRow) -> None:
    await events.emit(conn, type, customer, tenant_id=row.tenant_id, livemode=row.livemode)


async def _announce_method(
    conn: Connection, type: str, method: PaymentMethod, row: PaymentMethodRow
) -> None:
    await events.emit(conn, type, method, tenant_id=row.tenant_id, livemode=row.livemode)
