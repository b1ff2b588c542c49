"""A bare pass-through proxy: the floor any gateway on the same HTTP client can reach.

`python -m tests.bench._proxy --client aiohttp|httpx --upstream URL --port N --identity TOKEN`
forwards every request as is, adding only the identity header the services require.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send


def build(client_kind: str, upstream: str, identity: str) -> Any:
    state: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if client_kind == "aiohttp":
                        import aiohttp

                        state["client"] = aiohttp.ClientSession(
                            connector=aiohttp.TCPConnector(limit=500)
                        )
                    else:
                        import httpx

                        state["client"] = httpx.AsyncClient(
                            limits=httpx.Limits(max_connections=500)
                        )
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await state["client"].close() if client_kind == "aiohttp" else await state[
                        "client"
                    ].aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        query = scope["query_string"].decode()
        url = f"{upstream}{scope['path']}{'?' + query if query else ''}"
        headers = {"x-micro-identity": identity}
        client = state["client"]
        if client_kind == "aiohttp":
            async with client.request(scope["method"], url, data=body, headers=headers) as r:
                content = await r.read()
                status = r.status
                content_type = r.headers.get("content-type", "application/json")
        else:
            r = await client.request(scope["method"], url, content=body, headers=headers)
            content, status = r.content, r.status_code
            content_type = r.headers.get("content-type", "application/json")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(content)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", choices=["aiohttp", "httpx"], required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--identity", required=True)
    args = parser.parse_args()
    uvicorn.run(
        build(args.client, args.upstream, args.identity),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
