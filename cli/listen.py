"""`micro listen`: the tenant's events, live, forwarded to a local app
("An event" in docs/architecture.md, "Three paths").

It opens a CLI session (`POST /cli/sessions`), connects to the gateway's WebSocket, and for
each event POSTs the exact payload bytes to `--forward-to`, signed with the session's
`whsec_` secret: with the gateway's Standard Webhooks headers (`--signature standard`, the
default), or with `Stripe-Signature` (`--signature stripe`), which the CLI computes itself
from the same secret at each attempt, so the timestamp Stripe's verifiers hold to a
five-minute tolerance is the forward's own, even for an event replayed after a reconnect.

Events are handled one at a time, in stream order; an event is acknowledged only once its
forward has finished (delivered, or given up after the retries), and a reconnect resumes
after the last such event, so nothing is skipped and, within one run, nothing is forwarded
twice. Acks are cumulative, so one covers a run of events: sent when no more events are
waiting, and while they keep coming every `ACK_EVERY` events or `ACK_SECONDS`, whichever
is first; not one per event. The gateway is asked (`batch=1`) for a backlog several events
to a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import urlencode

import typer

from cli.options import ApiBaseOption, ProfileOption
from shared import webhooks

if TYPE_CHECKING:
    import aiohttp
    from websockets.asyncio.client import ClientConnection

    from cli.client import Credential
    from cli.config import Profile

# Forward attempts per event, and the pauses between them.
FORWARD_ATTEMPTS = 4
FORWARD_BACKOFF = (0.5, 1.0, 2.0)
# Reconnect pauses: quick at first (a gateway restart), then at most every 10 s.
RECONNECT_BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
# Close codes after which trying again cannot help: bad options (4400); the credential was
# revoked, its session ended, its tenant disabled or its live mode switched off (4403).
_FATAL_CLOSES = frozenset({4400, 4403})
_MAX_FRAME = 16 * 1024 * 1024
# While events keep coming, an ack at least every this many events (well inside the relay's
# window of 1,000) and at least this often (well inside its 10 s wait for an ack when the
# window is full: a local app taking 0.1 s an event would need 10 s for 100 of them).
ACK_EVERY = 100
ACK_SECONDS = 0.5

T = TypeVar("T")


class Format(StrEnum):
    text = "text"
    json = "json"


class Signature(StrEnum):
    standard = "standard"
    stripe = "stripe"


class Fatal(Exception):
    """Stops `micro listen` with one line and exit status 1."""


@dataclass
class Options:
    forward_to: str
    events: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    skip_verify: bool = False
    json_output: bool = False
    live: bool = False
    timeout: float = 30.0
    signature: webhooks.Scheme = "standard"


def listen(
    forward_to: Annotated[
        str | None,
        typer.Option(
            "--forward-to",
            "-f",
            help="URL to POST each event to, e.g. http://localhost:4242/webhook.",
        ),
    ] = None,
    events: Annotated[
        str | None,
        typer.Option(
            "--events", "-e", help="Only these types, comma-separated (payment_intent.*, *)."
        ),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", help='Extra header on each forward, "Key: Value".'),
    ] = None,
    print_secret: Annotated[
        bool, typer.Option("--print-secret", help="Print the webhook signing secret and exit.")
    ] = False,
    skip_verify: Annotated[
        bool, typer.Option("--skip-verify", help="Do not verify TLS certificates when forwarding.")
    ] = False,
    format_: Annotated[
        Format, typer.Option("--format", help="text, or json: one JSON line per event.")
    ] = Format.text,
    live: Annotated[
        bool, typer.Option("--live", help="Listen to live-mode events (needs a live credential).")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for each forward.")
    ] = 30.0,
    signature: Annotated[
        Signature,
        typer.Option(
            "--signature",
            help="How forwards are signed: standard (Standard Webhooks headers) or stripe "
            "(Stripe-Signature, for stripe.Webhook.construct_event).",
        ),
    ] = Signature.standard,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="MICRO_API_KEY", help="API key (default: the profile's)."),
    ] = None,
    api_base: ApiBaseOption = None,
    profile_name: ProfileOption = None,
) -> None:
    """Forward your events to a local URL, signed, resuming after any disconnect."""
    if not print_secret and not forward_to:
        raise _fail("--forward-to is required (e.g. --forward-to http://localhost:4242/webhook)")
    if forward_to and not forward_to.startswith(("http://", "https://")):
        raise _fail(f"--forward-to needs an http:// or https:// URL, not {forward_to!r}")
    try:
        extra = dict(_header(value) for value in header or [])
    except ValueError as exc:
        raise _fail(str(exc)) from None
    profile, credential = _credentials(api_key, api_base, profile_name, live)
    options = Options(
        forward_to=forward_to or "",
        events=events,
        headers=extra,
        skip_verify=skip_verify,
        json_output=format_ is Format.json,
        live=live,
        timeout=timeout,
        signature=signature.value,
    )
    runner = Runner(profile, credential, options)
    try:
        if print_secret:
            session = _run(runner.open_session())
            typer.echo(session["secret"])
            return
        _run(_until_interrupted(runner.run()))
    except Fatal as exc:
        raise _fail(str(exc)) from None


def _fail(message: str) -> typer.Exit:
    typer.echo(f"micro: {message}", err=True)
    return typer.Exit(1)


def _header(value: str) -> tuple[str, str]:
    name, sep, content = value.partition(":")
    if not sep or not name.strip():
        raise ValueError(f'bad --header {value!r}: use "Key: Value"')
    return name.strip(), content.strip()


def _credentials(
    api_key: str | None, api_base: str | None, profile_name: str | None, live: bool
) -> tuple[Profile, Credential]:
    from cli.config import DEFAULT_API_BASE, ConfigError, NotLoggedIn, Profile, load_profile

    if api_key:
        base = api_base or DEFAULT_API_BASE
        return Profile(name="--api-key", api_base=base, api_key=api_key), "key"
    try:
        profile = load_profile(profile_name)
    except (NotLoggedIn, ConfigError) as exc:
        raise _fail(str(exc)) from None
    if api_base:
        profile.api_base = api_base
    # The stored key is a test key: live events need the signed-in admin's session.
    if live and not profile.livemode:
        if not profile.access_token:
            raise _fail("--live needs a live API key (--api-key sk_live_...) or `micro login`")
        return profile, "session"
    return profile, "key"


def _run(main: Coroutine[Any, Any, T]) -> T:
    """On uvloop where it is installed (it comes with uvicorn's extras): a listener spends
    most of its time in the event loop's socket calls, which uvloop makes several times
    cheaper."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


async def _until_interrupted(main: Any) -> None:
    """Ctrl-C ends at once with status 0: whatever was not acknowledged is resent next time."""
    loop = asyncio.get_running_loop()

    def stop() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    loop.add_signal_handler(signal.SIGINT, stop)
    await main


class Runner:
    def __init__(self, profile: Profile, credential: Credential, options: Options) -> None:
        self.profile = profile
        self.credential = credential
        self.options = options
        # The last stream entry fully handled: where a reconnect resumes.
        self.cursor: str | None = None
        self.ready_once = False
        # Whether the current connection got as far as `ready` (then backoff starts over).
        self.was_ready = False
        # The session's signing secret (the same for every session of the tenant and mode).
        self.secret = ""

    # -- the session ------------------------------------------------------------------------

    async def open_session(self) -> dict[str, Any]:
        import httpx

        from cli.client import ApiError, GatewayUnreachable, async_client
        from cli.config import ConfigError, NotLoggedIn

        headers = {"Micro-Mode": "live"} if self.options.live else {}
        body = {"livemode": True} if self.options.live else {}
        try:
            async with async_client(self.profile, self.credential, timeout=15.0) as client:
                response = await client.post("/cli/sessions", json=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise GatewayUnreachable(self.profile.api_base) from None
        except (NotLoggedIn, ConfigError) as exc:
            raise Fatal(str(exc)) from None
        if response.status_code != 201:
            error = ApiError.from_response(response)
            if response.status_code < 500 and response.status_code != 429:
                raise Fatal(error.message)
            raise ConnectionError(error.message)  # worth another try, after a pause
        session: dict[str, Any] = response.json()
        return session

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        import aiohttp
        import httpx

        from cli.client import GatewayUnreachable

        failures = 0
        # aiohttp rather than httpx for the forwards: several times the requests per second
        # on the same hardware (the gateway proxies with it too), and a listener is only as
        # fast as its POSTs.
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=not self.options.skip_verify),
            timeout=aiohttp.ClientTimeout(total=self.options.timeout),
        ) as forwarder:
            while True:
                try:
                    session = await self.open_session()
                    self.was_ready = False
                    reason = await self.connect(session, forwarder)
                except GatewayUnreachable as exc:
                    if not self.ready_once:
                        raise Fatal(str(exc)) from None
                    reason = "gateway unreachable"
                except (OSError, TimeoutError, httpx.HTTPError) as exc:
                    if not self.ready_once:
                        raise Fatal(f"cannot connect to {self.profile.api_base}: {exc}") from None
                    reason = str(exc) or exc.__class__.__name__
                if self.was_ready:
                    failures = 0
                delay = RECONNECT_BACKOFF[min(failures, len(RECONNECT_BACKOFF) - 1)]
                failures += 1
                self.status(
                    f"Connection lost ({reason}); reconnecting in {delay:g}s and resuming "
                    f"after {self.cursor or 'the start'}"
                )
                await asyncio.sleep(delay)

    async def connect(self, session: dict[str, Any], forwarder: aiohttp.ClientSession) -> str:
        """One WebSocket connection; returns why it ended."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake

        # batch=1: a backlog comes several events to a message (a gateway that predates it
        # ignores it and sends one a message).
        params = {"events": self.options.events, "after": self.cursor, "batch": "1"}
        query = urlencode({k: v for k, v in params.items() if v})
        url = session["websocket_url"] + (f"?{query}" if query else "")
        headers = {"Authorization": f"Bearer {session['websocket_token']}"}
        self.secret = str(session["secret"])
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        try:
            # No permessage-deflate: compressing every small frame cost the gateway and the
            # listener more CPU than the bytes it saves (py-spy, a 10,000-event backlog).
            async with connect(
                url,
                additional_headers=headers,
                max_size=_MAX_FRAME,
                open_timeout=10,
                compression=None,
            ) as ws:
                worker = asyncio.create_task(self.work(ws, queue, forwarder))
                try:
                    await self.read(ws, session, queue)
                except ConnectionClosed:
                    pass
                finally:
                    # Events already received are still forwarded, in order, before resuming.
                    await queue.put(None)
                    await worker
                code, text = ws.close_code, ws.close_reason
        except InvalidHandshake as exc:
            raise ConnectionError(f"WebSocket refused: {exc}") from None
        if code in _FATAL_CLOSES:
            raise Fatal(f"the gateway closed the connection ({code}): {text}")
        return f"{code} {text}".strip() if code not in (None, 1000) or text else "closed"

    async def read(
        self,
        ws: ClientConnection,
        session: dict[str, Any],
        queue: asyncio.Queue[dict[str, Any] | None],
    ) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "ping":
                await ws.send('{"type":"pong"}')
            elif kind == "event":
                queue.put_nowait(frame)
            elif kind == "events":
                for event in frame["events"]:
                    queue.put_nowait(event)
            elif kind == "ready":
                self.was_ready = True
                if self.cursor is None:
                    self.cursor = str(frame.get("stream_id") or "") or None
                if not self.ready_once:
                    self.ready_once = True
                    self.status(
                        f"Ready! Your webhook signing secret is {session['secret']} (^C to quit)"
                    )
                else:
                    self.status(f"Reconnected; resuming after {self.cursor}")

    async def work(
        self,
        ws: ClientConnection,
        queue: asyncio.Queue[dict[str, Any] | None],
        forwarder: aiohttp.ClientSession,
    ) -> None:
        from websockets.exceptions import ConnectionClosed

        clock = asyncio.get_running_loop().time
        unacked, acked_at = 0, clock()
        while (frame := await queue.get()) is not None:
            await self.forward(frame, forwarder)
            self.cursor = frame["stream_id"]
            unacked += 1
            if not queue.empty() and unacked < ACK_EVERY and clock() - acked_at < ACK_SECONDS:
                continue  # the next ack covers this one too
            # If the connection is gone the cursor is kept here: the next one resumes after it.
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps({"type": "ack", "stream_id": frame["stream_id"]}))
            unacked, acked_at = 0, clock()

    # -- one event --------------------------------------------------------------------------

    async def forward(self, frame: dict[str, Any], forwarder: aiohttp.ClientSession) -> None:
        import aiohttp

        from shared.tracing import TRACEPARENT, valid_traceparent

        event_id, event_type = frame["id"], frame["event_type"]
        url = self.options.forward_to
        body = frame["payload"].encode()
        if not self.options.json_output:
            self.say(f"--> {event_type} [{event_id}]")
        # The event's trace, as the events service's own deliveries send it.
        traced = valid_traceparent(frame.get("traceparent"))
        status: int | None = None
        error = ""
        for attempt in range(1, FORWARD_ATTEMPTS + 1):
            headers = {
                **self.signed(frame, body),
                **({TRACEPARENT: traced} if traced else {}),
                "Content-Type": "application/json",
                "User-Agent": "micro-cli listen",
                **self.options.headers,
            }
            try:
                async with forwarder.post(url, data=body, headers=headers) as response:
                    await response.read()
                    status, error = response.status, ""
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, error = None, _describe(exc, self.options.timeout)
            delivered = status is not None and 200 <= status < 300
            retry = not delivered and attempt < FORWARD_ATTEMPTS
            if not self.options.json_output:
                shown = f"[{status}]" if status is not None else "[ERR]"
                line = f"<-- {shown} POST {url} [{event_id}]"
                if error:
                    line += f" {error}"
                if retry:
                    line += f"; retrying in {FORWARD_BACKOFF[attempt - 1]:g}s"
                elif not delivered:
                    line += f"; gave up after {attempt} attempts"
                self.say(line)
            if not retry:
                break
            await asyncio.sleep(FORWARD_BACKOFF[attempt - 1])
        if self.options.json_output:
            line = json.dumps(
                {
                    "stream_id": frame["stream_id"],
                    "id": event_id,
                    "type": event_type,
                    "forward": {
                        "url": url,
                        "status": status,
                        "error": error or None,
                        "attempts": attempt,
                        "delivered": delivered,
                    },
                }
            )
            self.say(f'{line[:-1]}, "event": {_one_line(frame["payload"])}}}')

    def signed(self, frame: dict[str, Any], body: bytes) -> dict[str, str]:
        """The signature headers of one forward attempt."""
        if self.options.signature == "stripe":
            return webhooks.signed_headers("stripe", self.secret, frame["id"], body)
        found: dict[str, str] = frame["headers"]
        return found

    # -- output -----------------------------------------------------------------------------

    def say(self, line: str) -> None:
        print(line, flush=True)

    def status(self, line: str) -> None:
        """Lines about the connection; on stderr in JSON mode so stdout stays JSON lines."""
        print(line, file=sys.stderr if self.options.json_output else sys.stdout, flush=True)


def _one_line(payload: str) -> str:
    """The event's JSON as it is (it is one line as the services encode it), rather than parsed
    and encoded again for every line of `--format json`: py-spy put that at 5% of a draining
    listener's time."""
    return json.dumps(json.loads(payload)) if "\n" in payload or "\r" in payload else payload


def _describe(exc: Exception, timeout: float) -> str:
    import aiohttp

    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g}s"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused"
        return f"cannot connect: {exc.os_error}"
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
