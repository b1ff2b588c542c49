"""`expand[]` on reads: from the query string (`expand[0]=customer`, `expand[]=customer`),
and lists of objects some of whose fields were expanded."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from services.payments.schemas import ExpandQuery
from shared.body import decode_form, validate
from shared.identity import identity_of
from shared.pagination import list_body
from shared.v1 import public_path


def query_expand(request: Request) -> list[str]:
    return validate(ExpandQuery, decode_form(request.url.query.encode())).expand


def listed(request: Request, data: list[dict[str, Any]], *, has_more: bool) -> JSONResponse:
    """As `shared.pagination.list_response`, for objects already rendered."""
    url = public_path(request.url.path, identity_of(request).dialect)
    return JSONResponse(list_body(data, has_more=has_more, url=url))
