"""Customers and their payment methods: parse, call the service, render."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.payments.routes.expansion import listed, query_expand
from services.payments.schemas import (
    AttachRequest,
    Customer,
    CustomerFilters,
    CustomerRequest,
    DeletedCustomer,
    DetachRequest,
    ExpandQuery,
    PaymentMethod,
    PaymentMethodFilters,
    RetrievedCustomer,
    UpdateCustomerRequest,
)
from services.payments.service import customers, expand, steps
from services.payments.state import payments_state
from shared.body import parse, validate
from shared.identity import identity_of
from shared.openapi import documented
from shared.pagination import ListParams, list_params, list_response
from shared.responses import json_response


class CustomerListParams(ListParams, CustomerFilters):
    """The list's query: paging and the `email` filter."""


class MethodListParams(ListParams, PaymentMethodFilters, ExpandQuery):
    """The list's query: paging, `customer`, `type` and `expand[]=data.customer`."""


class CustomerMethodListParams(ListParams, ExpandQuery):
    """The list's query: paging, `type` and `expand[]=data.customer`."""

    type: str | None = None


@documented(
    request=CustomerRequest,
    response=Customer,
    body_required=False,
    example={"email": "ada@example.com", "name": "Ada Obi"},
)
async def create_customer(request: Request) -> JSONResponse:
    """Create a customer.

    A customer groups the payments of one payer: name it on a PaymentIntent (`customer`) and
    attach payment methods to it.
    """
    body = await parse(request, CustomerRequest)
    expand.check(body.expand, expand.NOTHING)
    customer = await steps.create_customer(payments_state(request), identity_of(request), body)
    return json_response(customer.model_dump())


@documented(response=Customer, listing=True, query=CustomerListParams)
async def list_customers(request: Request) -> JSONResponse:
    """List customers, newest first (filter: email).

    Deleted customers are not listed. Filter: `email` (exact).
    """
    params = list_params(request)
    filters = validate(CustomerFilters, dict(request.query_params))
    found, has_more = await customers.list_customers(
        payments_state(request).pool, identity_of(request), params=params, email=filters.email
    )
    return list_response(request, found, has_more=has_more)


@documented(response=RetrievedCustomer, query=ExpandQuery)
async def get_customer(request: Request) -> JSONResponse:
    """Retrieve a customer.

    A deleted customer answers `{"id", "object": "customer", "deleted": true}`.
    """
    expand.check(query_expand(request), expand.NOTHING)
    customer = await customers.get_customer(
        payments_state(request).pool, identity_of(request), _id(request)
    )
    return json_response(customer.model_dump())


@documented(
    request=UpdateCustomerRequest,
    response=Customer,
    body_required=False,
    example={"name": "Ada Obi", "metadata": {"tier": "gold"}},
)
async def update_customer(request: Request) -> JSONResponse:
    """Update a customer.

    Only the fields sent change; `metadata` keys are set, and a key sent empty is removed.
    """
    body = await parse(request, UpdateCustomerRequest)
    expand.check(body.expand, expand.NOTHING)
    customer = await steps.update_customer(
        payments_state(request), identity_of(request), _id(request), body
    )
    return json_response(customer.model_dump())


@documented(response=DeletedCustomer)
async def delete_customer(request: Request) -> JSONResponse:
    """Delete a customer.

    Its payment methods are detached; its id keeps answering `deleted: true`.
    """
    deleted = await steps.delete_customer(
        payments_state(request), identity_of(request), _id(request)
    )
    return json_response(deleted.model_dump())


@documented(response=PaymentMethod, listing=True, query=CustomerMethodListParams)
async def list_customer_methods(request: Request) -> JSONResponse:
    """List a customer's payment methods, newest first.

    Those attached to it (`type`: only `card` exists here).
    """
    params = list_params(request)
    filters = validate(PaymentMethodFilters, dict(request.query_params))
    return await _methods(request, params, customer_id=_id(request), type=filters.type, param="id")


@documented(response=PaymentMethod, query=ExpandQuery)
async def get_method(request: Request) -> JSONResponse:
    """Retrieve a payment method.

    A test method by its name (`pm_card_visa`, `pm_card_chargeDeclined`, ...: test mode
    only), or one attached to a customer.
    """
    fields = expand.check(query_expand(request), expand.PAYMENT_METHOD)
    method = await customers.get_method(
        payments_state(request).pool, identity_of(request), _method_id(request)
    )
    return await _shown(request, method, fields)


@documented(response=PaymentMethod, listing=True, query=MethodListParams)
async def list_methods(request: Request) -> JSONResponse:
    """List the payment methods attached to customers, newest first (filters: customer, type).

    Filters: `customer`, `type` (only `card` exists here).
    """
    params = list_params(request)
    filters = validate(PaymentMethodFilters, dict(request.query_params))
    return await _methods(request, params, customer_id=filters.customer, type=filters.type)


@documented(request=AttachRequest, response=PaymentMethod, example={"customer": "cus_..."})
async def attach_method(request: Request) -> JSONResponse:
    """Attach a payment method to a customer.

    A test method (`pm_card_visa`) makes a new payment method of the customer's own, with
    the test method's card; pay its intents with it.
    """
    body = await parse(request, AttachRequest)
    fields = expand.check(body.expand, expand.PAYMENT_METHOD)
    method = await steps.attach_method(
        payments_state(request), identity_of(request), _method_id(request), body
    )
    return await _shown(request, method, fields)


@documented(request=DetachRequest, response=PaymentMethod, body_required=False)
async def detach_method(request: Request) -> JSONResponse:
    """Detach a payment method from its customer.

    It can never be used again.
    """
    body = await parse(request, DetachRequest)
    fields = expand.check(body.expand, expand.PAYMENT_METHOD)
    method = await steps.detach_method(
        payments_state(request), identity_of(request), _method_id(request)
    )
    return await _shown(request, method, fields)


async def _methods(
    request: Request,
    params: ListParams,
    *,
    customer_id: str | None,
    type: str | None,
    param: str = "customer",
) -> JSONResponse:
    fields = expand.check(query_expand(request), expand.PAYMENT_METHOD, listing=True)
    pool, identity = payments_state(request).pool, identity_of(request)
    found, has_more = await customers.list_methods(
        pool, identity, params=params, customer_id=customer_id, type=type, param=param
    )
    data = await expand.payment_methods(pool, identity, found, fields)
    return listed(request, data, has_more=has_more)


async def _shown(request: Request, method: PaymentMethod, fields: list[str]) -> JSONResponse:
    if not fields:
        return json_response(method.model_dump())
    pool, identity = payments_state(request).pool, identity_of(request)
    return json_response(await expand.payment_method(pool, identity, method, fields))


def _id(request: Request) -> str:
    return str(request.path_params["customer_id"])


def _method_id(request: Request) -> str:
    return str(request.path_params["method_id"])


_CUSTOMERS = "/payments/customers"
_METHODS = "/payments/payment_methods"
routes = [
    Route(_CUSTOMERS, create_customer, methods=["POST"]),
    Route(_CUSTOMERS, list_customers, methods=["GET"]),
    Route(_CUSTOMERS + "/{customer_id}", get_customer, methods=["GET"]),
    Route(_CUSTOMERS + "/{customer_id}", update_customer, methods=["POST"]),
    Route(_CUSTOMERS + "/{customer_id}", delete_customer, methods=["DELETE"]),
    Route(_CUSTOMERS + "/{customer_id}/payment_methods", list_customer_methods, methods=["GET"]),
    Route(_METHODS, list_methods, methods=["GET"]),
    Route(_METHODS + "/{method_id}", get_method, methods=["GET"]),
    Route(_METHODS + "/{method_id}/attach", attach_method, methods=["POST"]),
    Route(_METHODS + "/{method_id}/detach", detach_method, methods=["POST"]),
]
