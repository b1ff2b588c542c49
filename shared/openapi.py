"""OpenAPI 3.1 documents built from the routes themselves.

Endpoints declare their request and response models with `@documented`; the spec is built
from the route table, so a route cannot be served without appearing in `/openapi.json`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.routing import BaseRoute, Route

F = TypeVar("F", bound=Callable[..., Any])

_CONVERTER = re.compile(r"\{(\w+)(:\w+)?\}")
_ATTR = "__micro_openapi__"


def documented(
    *,
    request: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    tags: Sequence[str] = (),
) -> Callable[[F], F]:
    def mark(endpoint: F) -> F:
        setattr(
            endpoint,
            _ATTR,
            {"request": request, "response": response, "status": status, "tags": list(tags)},
        )
        return endpoint

    return mark


def build_spec(
    title: str, routes: Sequence[BaseRoute], *, version: str = "0.1.0"
) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for route in routes:
        if not isinstance(route, Route) or not route.include_in_schema:
            continue
        path = _CONVERTER.sub(r"{\1}", route.path)
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name, _ in _CONVERTER.findall(route.path)
        ]
        meta: dict[str, Any] = getattr(route.endpoint, _ATTR, {})
        doc = (route.endpoint.__doc__ or route.name or "").strip()
        summary = doc.splitlines()[0] if doc else route.name
        for method in sorted((route.methods or set()) - {"HEAD"}):
            operation: dict[str, Any] = {
                "operationId": f"{route.name}_{method.lower()}",
                "summary": summary,
                "tags": meta.get("tags") or [],
                "responses": _responses(meta, schemas),
            }
            if params:
                operation["parameters"] = params
            if meta.get("request") is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {
                        media: {"schema": _ref(meta["request"], schemas)}
                        for media in ("application/json", "application/x-www-form-urlencoded")
                    },
                }
            paths.setdefault(path, {})[method.lower()] = operation
    schemas["Error"] = _ERROR_SCHEMA
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _responses(meta: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "Success"}
    if meta.get("response") is not None:
        ok["content"] = {"application/json": {"schema": _ref(meta["response"], schemas)}}
    return {
        str(meta.get("status", 200)): ok,
        "default": {
            "description": "Error in the shared shape",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    }


def _ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "code", "message"],
            "properties": {
                "type": {
                    "type": "string",
                    "enum": [
                        "invalid_request_error",
                        "authentication_error",
                        "permission_error",
                        "rate_limit_error",
                        "idempotency_error",
                        "card_error",
                        "api_error",
                    ],
                },
                "code": {"type": "string"},
                "message": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "request_id": {"type": ["string", "null"]},
            },
        }
    },
}
