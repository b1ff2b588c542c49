"""`/openapi.json` merged from the services, and `/docs` served from a package (no CDN)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import swagger_ui_bundle
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.context import gateway_of

_CACHE_SECONDS = 30.0
_cache: dict[str, Any] = {}

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Micro API</title>
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
</head>
<body>
  <div id="ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui", deepLinking: true});
  </script>
</body>
</html>
"""


async def openapi(request: Request) -> JSONResponse:
    """Every service's paths, as reached through the gateway."""
    cached = _cache.get("spec")
    if cached is None or time.monotonic() - cached[1] > _CACHE_SECONDS:
        gateway = gateway_of(request)
        specs = await asyncio.gather(
            *(_fetch(gateway.client, url) for url in gateway.settings.upstreams().values())
        )
        cached = (merge(specs), time.monotonic())
        if all(specs):
            _cache["spec"] = cached
    return JSONResponse(cached[0])


def merge(specs: list[dict[str, Any] | None]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for spec in specs:
        if not spec:
            continue
        paths.update(spec.get("paths", {}))
        schemas.update(spec.get("components", {}).get("schemas", {}))
    return {
        "openapi": "3.1.0",
        "info": {"title": "Micro API", "version": "0.1.0"},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": dict(sorted(paths.items())),
    }


async def _fetch(client: aiohttp.ClientSession, base: str) -> dict[str, Any] | None:
    try:
        async with client.get(f"{base}/openapi.json", timeout=aiohttp.ClientTimeout(total=5)) as r:
            if r.status != 200:
                return None
            spec: dict[str, Any] = await r.json()
            return spec
    except (aiohttp.ClientError, TimeoutError):
        return None


async def docs(request: Request) -> HTMLResponse:
    return HTMLResponse(_PAGE)


routes = [
    Route("/docs", docs, methods=["GET"], include_in_schema=False),
    Mount(
        "/docs/static",
        app=StaticFiles(directory=Path(swagger_ui_bundle.swagger_ui_path)),
        name="docs-static",
    ),
]
