"""Stripe-style cursor pagination.

Lists are newest first. ``starting_after=X`` pages towards older objects, ``ending_before=X``
towards newer ones; ids are time-sortable, so the cursor is the id itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared.body import validate
from shared.identity import identity_of
from shared.v1 import public_path

T = TypeVar("T")


class ListParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=10, ge=1, le=100)
    starting_after: str | None = None
    ending_before: str | None = None

    @model_validator(mode="after")
    def _one_cursor(self) -> Self:
        if self.starting_after and self.ending_before:
            raise ValueError("pass starting_after or ending_before, not both")
        return self

    @property
    def cursor(self) -> str | None:
        return self.starting_after or self.ending_before

    @property
    def direction(self) -> Literal["older", "newer"]:
        return "newer" if self.ending_before else "older"

    @property
    def fetch(self) -> int:
        """Rows to ask the repository for: one more than shown tells whether more exist."""
        return self.limit + 1


def list_params(request: Request, model: type[ListParams] = ListParams) -> ListParams:
    return validate(model, dict(request.query_params))


def page(rows: Sequence[T], params: ListParams) -> tuple[list[T], bool]:
    """Trim the extra row and restore newest-first order for ``ending_before`` pages.

    The repository returns rows in walking order: id descending for "older", ascending for
    "newer".
    """
    has_more = len(rows) > params.limit
    shown = list(rows[: params.limit])
    if params.direction == "newer":
        shown.reverse()
    return shown, has_more


def list_body(data: list[Any], *, has_more: bool, url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def list_response(
    request: Request,
    items: Sequence[BaseModel],
    *,
    has_more: bool,
    exclude: set[str] | None = None,
) -> JSONResponse:
    """One page of objects in the list envelope, its url the path that was asked for."""
    data = [item.model_dump(exclude=exclude) for item in items]
    url = public_path(request.url.path, identity_of(request).dialect)
    return JSONResponse(list_body(data, has_more=has_more, url=url))


def keyset(params: ListParams) -> tuple[str, str]:
    """The id comparison and sort order a repository uses to walk from the cursor."""
    return ("<", "DESC") if params.direction == "older" else (">", "ASC")
