"""Request bodies as Stripe clients send them: JSON, bracketed forms, and JSON under a form
content type; the first problem becomes a 400 that names its field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from shared.body import MAX_NESTING, decode_body, decode_form, decode_params, validate
from shared.errors import InvalidRequestError


@pytest.mark.parametrize(
    ("raw", "content_type", "values", "typed"),
    [
        (b"", None, {}, False),
        (b"  \n", "application/json", {}, False),
        (b'{"a": 1}', "application/json", {"a": 1}, True),
        (b'{"a": 1}', "application/merchant+json; charset=utf-8", {"a": 1}, True),
        # curl -d '{...}' sends JSON as a form: the body says what it is.
        (b'{"a": 1}', "application/x-www-form-urlencoded", {"a": 1}, True),
        (b'{"a": 1}', None, {"a": 1}, True),
        (b"a=1&b=two", None, {"a": "1", "b": "two"}, False),
        (b"a=1", "application/x-www-form-urlencoded; charset=utf-8", {"a": "1"}, False),
        (b"a=", None, {"a": ""}, False),
    ],
)
def test_decoding(
    raw: bytes, content_type: str | None, values: dict[str, Any], typed: bool
) -> None:
    params = decode_params(raw, content_type)
    assert params.values == values
    assert params.typed is typed


@pytest.mark.parametrize(
    ("raw", "values"),
    [
        (b"metadata[order]=7&metadata[note]=hi", {"metadata": {"order": "7", "note": "hi"}}),
        (b"expand[]=a&expand[]=b", {"expand": ["a", "b"]}),
        (b"items[0][price]=p1&items[1][price]=p2", {"items": [{"price": "p1"}, {"price": "p2"}]}),
        # Indexes that are not 0..n-1 stay keys.
        (b"m[1]=a&m[3]=b", {"m": {"1": "a", "3": "b"}}),
        (b"enabled_events=a&enabled_events=b", {"enabled_events": ["a", "b"]}),
        (b"e=a&e=b&e=c", {"e": ["a", "b", "c"]}),
        (b"a%5Bb%5D=1", {"a": {"b": "1"}}),
        (b"name=Ada+Obi&x=%C3%A9", {"name": "Ada Obi", "x": "\u00e9"}),
    ],
)
def test_forms_nest_with_brackets(raw: bytes, values: dict[str, Any]) -> None:
    assert decode_form(raw) == values


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[bad]=1", "Invalid form key"),
        (b"a[b=1", "Invalid form key"),
        (b"a[b]c=1", "Invalid form key"),
        (b"a=1&a[b]=2", "both as a value and as an object"),
        (b"a[b]=2&a=1", "both as a value and as an object"),
        (b"a" + b"[x]" * (MAX_NESTING + 1) + b"=1", "nested too deeply"),
        (b"a=1&&b", "Invalid form-encoded"),
        (b"a=\xff", "Invalid form-encoded"),
    ],
)
def test_bad_forms_are_400s(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message) as caught:
        decode_form(raw)
    assert caught.value.status_code == 400


def test_nesting_up_to_the_limit_is_read() -> None:
    raw = b"a" + b"[x]" * MAX_NESTING + b"=1"
    value: Any = decode_form(raw)["a"]
    for _ in range(MAX_NESTING):
        value = value["x"]
    assert value == "1"


@pytest.mark.parametrize(
    ("raw", "content_type", "code", "status"),
    [
        (b"{nope", "application/json", "invalid_json", 400),
        (b"[1, 2]", "application/json", "invalid_json", 400),
        (b'"text"', "application/json", "invalid_json", 400),
        (b"[" * 100_000, "application/json", "invalid_json", 400),
        (b"\xff\xfe", "application/json", "invalid_json", 400),
        (b"<a/>", "application/xml", "unsupported_media_type", 415),
        (b"a=1", "text/plain", "unsupported_media_type", 415),
    ],
)
def test_bodies_that_cannot_be_read(raw: bytes, content_type: str, code: str, status: int) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        decode_body(raw, content_type)
    assert (caught.value.code, caught.value.status_code) == (code, status)


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b'{"name": "a\\u0000b"}', "name"),
        (b'{"metadata": {"k": "\\u0000"}}', "metadata[k]"),
        (b'{"tags": ["ok", "\\u0000"]}', "tags[1]"),
        (b'{"a\\u0000": 1}', "body"),
        (b"name=a%00b", "name"),
    ],
)
def test_nul_characters_are_refused_where_they_are(raw: bytes, param: str) -> None:
    with pytest.raises(InvalidRequestError, match="NUL") as caught:
        decode_body(raw, None)
    assert (caught.value.code, caught.value.param) == ("parameter_invalid", param)


class Line(BaseModel):
    model_config = ConfigDict(extra="forbid")

    price: str


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(gt=0)
    capture: bool = True
    tags: list[str] = []
    lines: list[Line] = []
    note: str | None = None


def test_json_is_validated_strictly() -> None:
    assert validate(Order, {"amount": 5}, typed=True).amount == 5
    with pytest.raises(InvalidRequestError, match="Invalid amount") as caught:
        validate(Order, {"amount": "5"}, typed=True)
    assert (caught.value.code, caught.value.param) == ("parameter_invalid", "amount")


@pytest.mark.parametrize(
    ("raw", "amount"),
    [(b'{"amount": 9085.0}', 9085), (b'{"amount": 9.085e3}', 9085), (b'{"amount": 1E2}', 100)],
)
def test_a_json_number_with_a_zero_fraction_is_an_integer(raw: bytes, amount: int) -> None:
    # JSON Schema counts 9085.0 as an integer, so the OpenAPI document's clients may send it.
    params = decode_params(raw, "application/json")
    assert validate(Order, params.values, typed=params.typed).amount == amount


@pytest.mark.parametrize(
    "raw", [b'{"amount": 9085.5}', b'{"amount": 1e400}', b'{"amount": 1e99999}']
)
def test_a_fraction_or_a_number_past_any_amount_is_not_an_integer(raw: bytes) -> None:
    params = decode_params(raw, "application/json")
    with pytest.raises(InvalidRequestError, match="Invalid amount"):
        validate(Order, params.values, typed=params.typed)


def test_form_text_is_read_as_the_fields_types() -> None:
    order = validate(Order, {"amount": "5", "capture": "False", "tags": "one"})
    assert (order.amount, order.capture, order.tags) == (5, False, ["one"])


@pytest.mark.parametrize("text", ["0", "1", "yes", "on", ""])
def test_a_form_boolean_is_true_or_false(text: str) -> None:
    with pytest.raises(InvalidRequestError, match="`true` or `false`") as caught:
        validate(Order, {"amount": "5", "capture": text})
    assert caught.value.param == "capture"


@pytest.mark.parametrize(
    ("data", "code", "param", "message"),
    [
        ({}, "parameter_missing", "amount", "Missing required param: amount."),
        ({"amount": 5, "colour": "red"}, "parameter_unknown", "colour", "unknown parameter"),
        ({"amount": 0}, "parameter_invalid", "amount", "Invalid amount"),
        ({"amount": 5, "lines": [{"price": "p"}, {}]}, "parameter_missing", "lines[1][price]",
         "Missing required param: lines[1][price]."),
    ],
)  # fmt: skip
def test_the_first_problem_names_its_field(
    data: dict[str, Any], code: str, param: str, message: str
) -> None:
    with pytest.raises(InvalidRequestError, match=message.replace("[", r"\[")) as caught:
        validate(Order, data, typed=True)
    assert (caught.value.code, caught.value.param, caught.value.status_code) == (code, param, 400)


def test_a_nested_model_is_located_by_its_prefix() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate(Line, {}, typed=True, prefix=("lines", 2))
    assert caught.value.param == "lines[2][price]"
