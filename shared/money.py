"""Money is an integer count of a currency's minor unit plus a lowercase ISO-4217 code.

No floats anywhere. The exponent table follows ISO-4217 as payment processors apply it:
zero-decimal currencies (jpy, krw, ...) take whole units, three-decimal ones (kwd, bhd, ...)
thousandths.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, WithJsonSchema

# Largest amount accepted in one operation: 12 digits of minor units (e.g. 9,999,999,999.99
# usd). Sums of many of these still fit PostgreSQL BIGINT with a wide margin.
MAX_AMOUNT = 999_999_999_999

_ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "isk",
        "jpy",
        "kmf",
        "krw",
        "pyg",
        "rwf",
        "ugx",
        "uyi",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
_THREE_DECIMAL = frozenset(["bhd", "iqd", "jod", "kwd", "lyd", "omr", "tnd"])
_TWO_DECIMAL = frozenset(
    [
        "aed",
        "afn",
        "all",
        "amd",
        "ang",
        "aoa",
        "ars",
        "aud",
        "awg",
        "azn",
        "bam",
        "bbd",
        "bdt",
        "bgn",
        "bmd",
        "bnd",
        "bob",
        "brl",
        "bsd",
        "btn",
        "bwp",
        "byn",
        "bzd",
        "cad",
        "cdf",
        "chf",
        "cny",
        "cop",
        "crc",
        "cup",
        "cve",
        "czk",
        "dkk",
        "dop",
        "dzd",
        "egp",
        "ern",
        "etb",
        "eur",
        "fjd",
        "fkp",
        "gbp",
        "gel",
        "ghs",
        "gip",
        "gmd",
        "gtq",
        "gyd",
        "hkd",
        "hnl",
        "htg",
        "huf",
        "idr",
        "ils",
        "inr",
        "irr",
        "jmd",
        "kes",
        "kgs",
        "khr",
        "kpw",
        "kyd",
        "kzt",
        "lak",
        "lbp",
        "lkr",
        "lrd",
        "lsl",
        "mad",
        "mdl",
        "mga",
        "mkd",
        "mmk",
        "mnt",
        "mop",
        "mru",
        "mur",
        "mvr",
        "mwk",
        "mxn",
        "myr",
        "mzn",
        "nad",
        "ngn",
        "nio",
        "nok",
        "npr",
        "nzd",
        "pab",
        "pen",
        "pgk",
        "php",
        "pkr",
        "pln",
        "qar",
        "ron",
        "rsd",
        "rub",
        "sar",
        "sbd",
        "scr",
        "sdg",
        "sek",
        "sgd",
        "shp",
        "sle",
        "sll",
        "sos",
        "srd",
        "ssp",
        "stn",
        "svc",
        "syp",
        "szl",
        "thb",
        "tjs",
        "tmt",
        "top",
        "try",
        "ttd",
        "twd",
        "tzs",
        "uah",
        "usd",
        "uyu",
        "uzs",
        "ves",
        "wst",
        "xcd",
        "yer",
        "zar",
        "zmw",
        "zwl",
    ]
)

CURRENCIES: dict[str, int] = {
    **dict.fromkeys(_TWO_DECIMAL, 2),
    **dict.fromkeys(_ZERO_DECIMAL, 0),
    **dict.fromkeys(_THREE_DECIMAL, 3),
}


class UnknownCurrencyError(ValueError):
    pass


def normalize_currency(code: str) -> str:
    lowered = code.strip().lower()
    if lowered not in CURRENCIES:
        raise UnknownCurrencyError(f"{code!r} is not a supported ISO-4217 currency code")
    return lowered


def minor_unit_exponent(currency: str) -> int:
    return CURRENCIES[normalize_currency(currency)]


def to_major_string(amount: int, currency: str) -> str:
    """Exact decimal string in major units, for providers that want them (5000 usd -> 50.00)."""
    exponent = minor_unit_exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**exponent)
    return f"{sign}{whole}.{fraction:0{exponent}d}" if exponent else f"{sign}{whole}"


def _whole_number(value: object, info: ValidationInfo) -> object:
    """Form values are text, so a string of digits is a number there. JSON carries types: a
    string is not an amount (`"amount": "100"` is refused, as Stripe does), and strict
    validation refuses floats (100.0 is a float, and money has no floats) and bools."""
    if info.mode == "json":
        return value
    if isinstance(value, bool | float):
        raise ValueError("must be an integer number of minor units")
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdigit():
            raise ValueError("must be an integer number of minor units")
        return int(text)
    return value


# The parsing rule for integer amounts. Written after the bounds (`Annotated[int, Field(gt=0),
# WHOLE_NUMBER]`): bounds placed outside a validated type reach the OpenAPI document as
# `gt`/`le`, which no JSON Schema reader knows, so clients and fuzzers would send 0 or -1.
WHOLE_NUMBER = BeforeValidator(_whole_number)

# A currency code as the document lists it: one of the supported codes (any case is read).
Currency = Annotated[
    str,
    AfterValidator(normalize_currency),
    WithJsonSchema({"type": "string", "enum": sorted(CURRENCIES)}),
]
# A strictly positive amount of minor units.
Amount = Annotated[int, Field(gt=0, le=MAX_AMOUNT), WHOLE_NUMBER]
