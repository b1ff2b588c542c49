"""`micro listen` runs on uvloop where it is installed (it comes with uvicorn's extras), and on
asyncio's own loop where it is not."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from cli.listen import _run


async def loop_type() -> type[asyncio.AbstractEventLoop]:
    return type(asyncio.get_running_loop())


def test_on_uvloop_where_installed() -> None:
    assert _run(loop_type()) is uvloop.Loop


def test_on_asyncios_loop_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError
    assert not issubclass(_run(loop_type()), uvloop.Loop)
