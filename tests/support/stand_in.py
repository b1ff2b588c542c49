"""A stand-in replica of a service as a real process, for the load-balancing tests: one
`python -m tests.support.stand_in NAME PORT` per replica, so a test can SIGKILL it and
start it again on the same port, as a crashed service would be.

It answers any method on any path with `{"replica": NAME, "method", "path"}` (200), except:

- `.../crash?replica=NAME`: reads the whole request, then the process SIGKILLs itself
  before answering: a replica dying with a request in flight (`?replica=` names the one
  that dies, so the same request replayed on another is answered);
- `.../slow?replica=NAME`: never answers (a replica stuck on the request);
- `GET /_hits`: how many requests each path had, this one not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cli.stack.ports import free_port, port_is_open
from tests.support.processes import START_WITHIN

METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]


def app(name: str) -> Starlette:
    hits: Counter[str] = Counter()

    async def counted(request: Request) -> JSONResponse:
        return JSONResponse(dict(hits))

    async def answer(request: Request) -> Response:
        path = request.url.path
        hits[path] += 1
        await request.body()
        chosen = request.query_params.get("replica") == name
        if chosen and path.endswith("/crash"):
            os.kill(os.getpid(), signal.SIGKILL)
        if chosen and path.endswith("/slow"):
            await asyncio.Event().wait()
        return JSONResponse({"replica": name, "method": request.method, "path": path})

    return Starlette(
        routes=[
            Route("/_hits", counted, methods=["GET"]),
            Route("/{path:path}", answer, methods=METHODS),
        ]
    )


class Replica:
    """One replica process: `await start()`, `kill()` it (SIGKILL), `await start()` again."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.launch()
        await self.listening()

    def launch(self) -> None:
        assert self.process is None, f"{self.name} is already running"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.stand_in", self.name, str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def listening(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_WITHIN
        while not port_is_open(self.port):
            if self.process.poll() is not None:
                raise AssertionError(f"replica {self.name} exited ({self.process.returncode})")
            assert time.monotonic() < deadline, f"replica {self.name} did not start"
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown, its connections simply end, as in a crash."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def died(self) -> bool:
        """Whether it killed itself (a `crash` request); reaps it if so. Waits a little: its
        sockets close a moment before the process can be reaped."""
        assert self.process is not None
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            return False
        self.process = None
        return True

    async def hits(self, path: str) -> int:
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            counts: dict[str, int] = (await client.get("/_hits")).json()
        return counts.get(path, 0)


@contextlib.asynccontextmanager
async def replicas(*names: str) -> AsyncIterator[list[Replica]]:
    """One running replica per name; all killed at the end."""
    started = [Replica(name) for name in names]
    try:
        for replica in started:  # all at once: each takes a moment to import its server
            replica.launch()
        for replica in started:
            await replica.listening()
        yield started
    finally:
        for replica in started:
            replica.kill()


if __name__ == "__main__":
    name, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run(app(name), host="127.0.0.1", port=port, log_config=None, access_log=False)
