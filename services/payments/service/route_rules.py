"""What makes a provider route valid, and the platform's default routes as settings write
them (`provider_routes = "ngn=paystack,flutterwave;ghs=flutterwave"`). Pure: the settings
check them at start, the routing API for each PUT."""

from __future__ import annotations

from collections.abc import Sequence

from shared.errors import InvalidRequestError
from shared.money import UnknownCurrencyError, normalize_currency

# The hosted providers only: the simulator charges a payment method, they collect one on
# their own page, so an intent could not move between it and them; and it exists in test
# mode only, so a route through it would mean one thing per mode.
PROVIDERS = ("paystack", "flutterwave")


class RouteError(InvalidRequestError):
    def __init__(self, message: str, *, param: str = "providers") -> None:
        super().__init__(message, code="invalid_route", param=param)


def currency_of(value: str) -> str:
    """A route's currency, as a path or a setting names it: a supported ISO-4217 code."""
    try:
        return normalize_currency(value)
    except UnknownCurrencyError:
        raise RouteError(
            f"{value!r} is not a supported ISO-4217 currency code.", param="currency"
        ) from None


def check_route(providers: Sequence[str]) -> tuple[str, ...]:
    """The route, checked: known hosted providers (`PROVIDERS`), each once, at least one
    (the same rules in either mode)."""
    if not providers:
        raise RouteError("A route needs at least one provider.")
    for name in providers:
        if name not in PROVIDERS:
            raise RouteError(f"No such provider: {name!r} (one of: {', '.join(PROVIDERS)}).")
    if len(set(providers)) != len(providers):
        raise RouteError("A route names each provider once.")
    return tuple(providers)


def parse_default(text: str) -> dict[str, tuple[str, ...]]:
    """`ngn=paystack,flutterwave;ghs=flutterwave` -> {"ngn": ("paystack", "flutterwave"),
    "ghs": ("flutterwave",)}; ValueError naming what is wrong."""
    routes: dict[str, tuple[str, ...]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        currency, equals, names = part.partition("=")
        if not equals:
            raise ValueError(f"{part!r} is not CURRENCY=PROVIDER[,PROVIDER...]")
        try:
            code = currency_of(currency)
            if code in routes:
                raise RouteError(f"{code} is routed twice.", param="currency")
            routes[code] = check_route([n.strip().lower() for n in names.split(",") if n.strip()])
        except RouteError as exc:
            raise ValueError(f"provider_routes: {exc.message}") from None
    return routes
