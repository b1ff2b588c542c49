"""What every dashboard page shares: the signed-in check, CSRF on every form, rendering,
redirects, the error pages, and the security headers of each answer.

A page is `@page()` on `async def view(request, ctx) -> Response`; `ctx` (a `Page`) holds the
session, the API client and what the templates need. `@page(roles=...)` narrows who may see
it: anyone else gets the same 404 page as for an id that is not theirs (a USER learns
nothing of the pages it may not open). A POST whose `csrf_token` field is not the session's
gets 403 before the view runs.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from gateway import handler
from gateway.dashboard import formats
from gateway.dashboard.api import Api, ApiFailure, SignedOut, client_for
from gateway.dashboard.session import COOKIE, DashboardSession, Sessions, same
from gateway.state import GatewayState, gateway_state
from shared.access import Role
from shared.state import app_state

PREFIX = "/dashboard"
MAX_FORM_BYTES = 64 * 1024
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
formats.install(TEMPLATES.env)

# No script but our own, no framing, no form posted elsewhere, nothing cached: pages show
# balances and, once, secrets.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# Each role's menu: (path under /dashboard, label). A page's own `@page(roles=...)` is what
# guards it; the menu only leaves out what a role could not open.
NAV: dict[Role, list[tuple[str, str]]] = {
    Role.TENANT_ADMIN: [
        ("/", "Home"),
        ("/payments", "Payments"),
        ("/wallets", "Wallets"),
        ("/ledger", "Ledger"),
        ("/events", "Events"),
        ("/webhooks", "Webhooks"),
        ("/keys", "API keys"),
        ("/team", "Team"),
        ("/settings", "Settings"),
    ],
    Role.USER: [("/wallets", "Wallets")],
    Role.PLATFORM_ADMIN: [
        ("/platform/tenants", "Tenants"),
        ("/platform/users", "Users"),
        ("/platform/health", "Health"),
        ("/platform/ledger", "Ledger verify"),
    ],
}


def nav(session: DashboardSession) -> list[tuple[str, str]]:
    return NAV[session.role]


TEMPLATES.env.globals["nav"] = nav

TENANT_ADMINS = frozenset({Role.TENANT_ADMIN})
PLATFORM_ADMINS = frozenset({Role.PLATFORM_ADMIN})
EVERYONE = frozenset(Role)


@dataclass(slots=True)
class Page:
    request: Request
    api: Api
    session: DashboardSession
    cookie: str
    form: dict[str, str] = field(default_factory=dict)

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        return render(self.request, template, status, session=self.session, **context)

    def redirect(self, path: str, notice: str | None = None) -> Response:
        """See `path` (a dashboard path) next, with `notice` said once on it."""
        if notice is not None:
            self.session.notice = notice
        return RedirectResponse(url(path), status_code=303)

    def field(self, name: str, default: str = "") -> str:
        return self.form.get(name, default).strip()

    def form_key(self) -> str | None:
        """The idempotency key drawn into the form (`idempotency_key` field), if any."""
        key = self.form.get("idempotency_key", "")
        return key if key.startswith("dash_") and len(key) < 100 else None


View = Callable[[Request, Page], Awaitable[Response]]


def url(path: str) -> str:
    return PREFIX + path if not path.startswith(PREFIX) else path


def new_form_key() -> str:
    return "dash_" + secrets.token_urlsafe(18)


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    session = context.get("session")
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "prefix": PREFIX,
            "path": request.url.path,
            "csrf": session.csrf if isinstance(session, DashboardSession) else "",
            "form_key": new_form_key(),
            **context,
        },
        status_code=status,
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def client_ip(request: Request, gateway: GatewayState) -> str:
    """The browser's address as the API judges it (X-Forwarded-For only from a trusted
    proxy): the gateway's own rule."""
    return handler.caller_ip(request, gateway)


def is_https(request: Request, gateway: GatewayState) -> bool:
    """Whether the browser reached us over https (itself, or a trusted proxy saying so)."""
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else ""
    proto = request.headers.get("x-forwarded-proto", "")
    return peer in gateway.settings.trusted_proxies and proto.lower() == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, seconds: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=seconds,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=is_https(request, gateway_state(request)),
    )


def sessions_of(request: Request) -> Sessions:
    return Sessions(app_state(request).redis)


def anonymous_api(request: Request) -> Api:
    gateway = gateway_state(request)
    return Api(client_for(request, client_ip(request, gateway)), request_id=_request_id(request))


def _request_id(request: Request) -> str | None:
    found = request.scope.get("state", {}).get("request_id")
    return found if isinstance(found, str) else request.headers.get("x-request-id")


async def read_form(request: Request) -> dict[str, str] | None:
    """An urlencoded form, the last value of each field; None if it is not one."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return None


def to_sign_in(request: Request) -> Response:
    target = request.url.path
    if request.method == "GET" and request.url.query:
        target += "?" + request.url.query
    response = RedirectResponse(url(f"/login?next={quote(target, safe='/')}"), status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


def page(
    roles: Collection[Role] = EVERYONE,
) -> Callable[[View], Callable[[Request], Awaitable[Response]]]:
    def wrap(view: View) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(view)
        async def endpoint(request: Request) -> Response:
            cookie = request.cookies.get(COOKIE, "")
            sessions = sessions_of(request)
            session = await sessions.load(cookie)
            if session is None:
                return to_sign_in(request)
            gateway = gateway_state(request)
            async with client_for(request, client_ip(request, gateway)) as http:
                api = Api(
                    http, sessions=sessions, cookie=cookie, session=session,
                    request_id=_request_id(request),
                )  # fmt: skip
                ctx = Page(request, api, session, cookie)
                if request.method == "POST":
                    form = await read_form(request)
                    if form is None or not same(form.get("csrf_token", ""), session.csrf):
                        return render(
                            request, "error.html", 403, session=session, title="Forbidden",
                            message="This form has expired or did not come from this page. "
                            "Go back, reload it and try again.",
                        )  # fmt: skip
                    ctx.form = form
                if session.role not in roles:
                    return not_found(ctx)
                notice = session.notice
                try:
                    response = await view(request, ctx)
                except SignedOut:
                    return to_sign_in(request)
                except ApiFailure as failure:
                    response = failed(ctx, failure)
                if notice is not None and session.notice == notice:
                    # Shown on this page: forgotten now.
                    session.notice = None
                    await api.store()
                elif session.notice is not None:
                    await api.store()
                return response

        return endpoint

    return wrap


def not_found(ctx: Page) -> Response:
    return ctx.render(
        "error.html", 404, title="Not found",
        message="There is nothing here, or it is not yours to see.",
    )  # fmt: skip


def failed(ctx: Page, failure: ApiFailure) -> Response:
    """A refused API call, as a page: 404 as the not-found page, anything else said as the
    API said it (the shared error format's message and code)."""
    answer = failure.answer
    if answer.status == 404:
        return not_found(ctx)
    status = answer.status if 400 <= answer.status < 600 else 502
    return ctx.render(
        "error.html", status, title="That did not work",
        message=answer.message, code=answer.error.get("code"),
    )  # fmt: skip


def query(request: Request, names: Collection[str]) -> Mapping[str, str]:
    """The named query parameters that are present and not blank."""
    return {n: request.query_params[n] for n in names if request.query_params.get(n)}
