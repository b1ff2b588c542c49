"""An aiohttp application served on 127.0.0.1 for the length of a test: the stand-in
upstreams (a ledger that answers 503 once, a trace receiver, a webhook endpoint) that
tests point a real service at."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from cli.stack.ports import free_port


@contextlib.asynccontextmanager
async def serving(
    app: web.Application, *, port: int | None = None, shutdown_timeout: float = 60.0
) -> AsyncIterator[str]:
    """The app's base URL (`http://127.0.0.1:PORT`), on a free port unless one is given."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    port = port or free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
