"""Request bodies as Stripe clients send them.

JSON; form-encoded with bracket nesting (``metadata[order]=7``, ``expand[]=a``,
``items[0][price]=p``); and JSON sent under a form content type, which is what
``curl -d '{...}'`` does when no ``Content-Type`` is given. Bodies are read with a size
limit so a huge upload is refused before it is held in memory.

JSON carries types, so a JSON body is validated strictly: ``"amount": "100"`` is a string, not
an integer, and is refused, as Stripe refuses it. A number with a zero fraction (``100.0``) is
an integer, as JSON Schema (and so the OpenAPI document) counts it. A form carries only text, so
its values are read as the field's type (``amount=100``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from shared.errors import InvalidRequestError, PayloadTooLargeError

Model = TypeVar("Model", bound=BaseModel)

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]*(\[[A-Za-z0-9_]+\])?$")
MAX_NESTING = 8


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"Request body is larger than the limit of {limit} bytes.")


@dataclass(frozen=True, slots=True)
class Params:
    """A body's parameters, and whether they came typed (JSON) or as text (a form)."""

    values: dict[str, Any]
    typed: bool


def decode_body(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """Turn a raw body into a dict of parameters; an empty body is an empty dict."""
    return decode_params(raw, content_type).values


def decode_params(raw: bytes, content_type: str | None) -> Params:
    if not raw.strip():
        return Params({}, typed=False)
    params = _decode(raw, content_type)
    # A NUL can only arrive escaped (JSON's \u0000, a form's %00): skip the walk otherwise.
    if b"\\u0000" in raw or b"%00" in raw or b"\x00" in raw:
        _refuse_nul(params.values, "body")
    return params


def _refuse_nul(value: Any, param: str) -> None:
    """PostgreSQL text cannot hold U+0000; refuse it here rather than fail on the insert."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidRequestError(
                f"{param} contains a NUL character.", code="parameter_invalid", param=param
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, param)
            _refuse_nul(item, str(key) if param == "body" else f"{param}[{key}]")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_nul(item, f"{param}[{index}]")


def _decode(raw: bytes, content_type: str | None) -> Params:
    media = (content_type or "").split(";")[0].strip().lower()
    looks_like_json = raw.lstrip()[:1] in (b"{", b"[")
    if media == "application/json" or media.endswith("+json") or looks_like_json:
        return Params(_decode_json(raw), typed=True)
    if media in ("", "application/x-www-form-urlencoded"):
        return Params(decode_form(raw), typed=False)
    raise InvalidRequestError(
        f"Unsupported content type {media!r}; send application/json or "
        "application/x-www-form-urlencoded.",
        code="unsupported_media_type",
        status=415,
    )


# Past this many digits a number is no amount or count; it is left a float (so refused where an
# integer is wanted) rather than turned into an int of a million digits.
_INTEGRAL_DIGITS = 40


def _number(text: str) -> int | float:
    """A JSON number with a fraction or exponent: an int when its value is whole."""
    value = Decimal(text)
    if value.is_finite() and value.adjusted() < _INTEGRAL_DIGITS and value == value.to_integral():
        return int(value)
    return float(text)


def _decode_json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw, parse_float=_number)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(
            f"Invalid JSON in request body: {exc}", code="invalid_json"
        ) from None
    except RecursionError:
        raise InvalidRequestError(
            "The request body is nested too deeply.", code="invalid_json"
        ) from None
    if not isinstance(data, dict):
        raise InvalidRequestError("The request body must be a JSON object.", code="invalid_json")
    return data


def decode_form(raw: bytes) -> dict[str, Any]:
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequestError(
            "Invalid form-encoded request body.", code="invalid_form"
        ) from None
    root: dict[str, Any] = {}
    for key, value in pairs:
        _assign(root, _split_key(key), value)
    return _listify(root)  # type: ignore[no-any-return]


def _split_key(key: str) -> list[str]:
    head, bracket, _ = key.partition("[")
    if not head:
        raise InvalidRequestError(f"Invalid form key {key!r}.", code="invalid_form", param=key)
    rest = key[len(head) :]
    segments = _SEGMENT.findall(rest)
    if bracket and "".join(f"[{s}]" for s in segments) != rest:
        raise InvalidRequestError(f"Invalid form key {key!r}.", code="invalid_form", param=key)
    if len(segments) > MAX_NESTING:
        raise InvalidRequestError(f"Form key {key!r} is nested too deeply.", param=key)
    return [head, *segments]


def _assign(node: dict[str, Any], path: list[str], value: str) -> None:
    *parents, leaf = path
    for segment in parents:
        child = node.setdefault(segment, {})
        if not isinstance(child, dict):
            raise InvalidRequestError(
                f"Form key {segment!r} is given both as a value and as an object.",
                code="invalid_form",
                param=segment,
            )
        node = child
    if leaf == "":
        node.setdefault("", []).append(value)
    elif isinstance(node.get(leaf), dict):
        raise InvalidRequestError(
            f"Form key {leaf!r} is given both as a value and as an object.",
            code="invalid_form",
            param=leaf,
        )
    elif isinstance(node.get(leaf), str | list):
        # `enabled_events=a&enabled_events=b`: a repeated key is a list (OpenAPI's form style).
        earlier = node[leaf]
        node[leaf] = [*earlier, value] if isinstance(earlier, list) else [earlier, value]
    else:
        node[leaf] = value


def _listify(node: Any) -> Any:
    """`{"": [..]}` came from `key[]`, `{"0": .., "1": ..}` from `key[0]`: both are lists."""
    if not isinstance(node, dict):
        return node
    if set(node) == {""}:
        return [_listify(v) for v in node[""]]
    if node and all(k.isdigit() for k in node):
        indexes = sorted(node, key=int)
        if [int(k) for k in indexes] == list(range(len(indexes))):
            return [_listify(node[k]) for k in indexes]
    return {k: _listify(v) for k, v in node.items()}


async def parse_params(request: Request, limit: int) -> Params:
    raw = await read_body(request, limit)
    return decode_params(raw, request.headers.get("content-type"))


async def parse_model(request: Request, model: type[Model], limit: int) -> Model:
    params = await parse_params(request, limit)
    return validate(model, params.values, typed=params.typed)


async def parse(request: Request, model: type[Model]) -> Model:
    """The request body as `model`, within the app's body size limit."""
    from shared.state import app_state  # the state module imports settings, not us

    return await parse_model(request, model, app_state(request).settings.max_body_bytes)


def validate(
    model: type[Model], data: Any, *, typed: bool = False, prefix: tuple[int | str, ...] = ()
) -> Model:
    """Validate parameters into a model; the first problem becomes a 400 naming the field.

    `typed`: the values came from JSON, so their types count (strict validation, in JSON
    mode so that strings still spell dates and URLs); otherwise they are text to be read.
    """
    try:
        if typed:
            return model.model_validate_json(json.dumps(data), strict=True)
        return model.model_validate(_form_values(model, data))
    except ValidationError as exc:
        raise validation_error(exc, prefix) from None


def _form_values(model: type[BaseModel], data: Any) -> Any:
    """A form's text read as its fields' types where pydantic would guess otherwise.

    `enabled_events=*` is a list of one: nothing in the text marks it a list. A boolean is
    `true` or `false`, as Stripe spells it; pydantic would also read `0`, `yes` or `on`.
    """
    if not isinstance(data, dict):
        return data
    values = dict(data)
    for name, field in model.model_fields.items():
        key = field.alias or name
        value = values.get(key)
        if not isinstance(value, str):
            continue
        if _takes(list, field.annotation):
            values[key] = [value]
        elif _takes(bool, field.annotation):
            if value.lower() not in ("true", "false"):
                raise InvalidRequestError(
                    f"Invalid {key}: a boolean is `true` or `false`.",
                    code="parameter_invalid",
                    param=key,
                )
            values[key] = value.lower() == "true"
    return values


def _takes(kind: type, annotation: Any) -> bool:
    if annotation is kind:
        return True
    origin = get_origin(annotation)
    if origin is kind:
        return True
    if origin is Annotated:
        return _takes(kind, get_args(annotation)[0])
    if origin in (Union, UnionType):
        return any(_takes(kind, arg) for arg in get_args(annotation))
    return False


def validation_error(
    exc: ValidationError, prefix: tuple[int | str, ...] = ()
) -> InvalidRequestError:
    """The first problem as a 400 naming its field; `prefix` locates a nested model."""
    first = exc.errors(include_url=False)[0]
    param = _param_name((*prefix, *first["loc"]))
    kind = first["type"]
    if kind == "missing":
        return InvalidRequestError(
            f"Missing required param: {param}.", code="parameter_missing", param=param
        )
    if kind == "extra_forbidden":
        return InvalidRequestError(
            f"Received unknown parameter: {param}.", code="parameter_unknown", param=param
        )
    message = first["msg"]
    if kind in ("value_error", "assertion_error"):
        # pydantic words these "Value error, <ours>": the client needs only our words.
        message = str(first.get("ctx", {}).get("error", message))
    return InvalidRequestError(
        f"Invalid {param}: {message}.", code="parameter_invalid", param=param
    )


def _param_name(loc: tuple[int | str, ...]) -> str:
    # pydantic adds validator and union-member tags (`function-wrap[...]`, `literal['']`)
    # to locations; a client only knows field names and list positions.
    parts = [str(p) for p in loc if isinstance(p, int) or _FIELD.match(p)]
    if not parts:
        return "body"
    return parts[0] + "".join(f"[{part}]" for part in parts[1:])
