"""Signing in and out of the dashboard, and the test/live switch.

Sign-in posts the email and password to the API's own doors, from the browser's address, so
the per-IP login limit and every refusal are the API's: `/auth/login` (tenant users), and
`/auth/admin` when the first says the password is a platform admin's (`use_admin_login`): a
wrong password costs one attempt of the limit, not two. Sign-out ends
the API session (`/auth/logout`), so the tokens stop working everywhere, not only here.
"""

from __future__ import annotations

import contextlib

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.dashboard.api import Answer, SignedOut
from gateway.dashboard.session import (
    COOKIE,
    MAX_SECONDS,
    SIGNIN_COOKIE,
    DashboardSession,
    expires_at,
    new_token,
    same,
)
from gateway.dashboard.web import (
    PREFIX,
    Page,
    anonymous_api,
    page,
    read_form,
    render,
    sessions_of,
    set_cookie,
    url,
)
from shared.access import Role

_SIGNIN_SECONDS = 3600


def _next(target: str | None, role: Role) -> str:
    """Where to go after signing in: back where the browser was sent from, if that is a
    dashboard page (never another site), else the role's first page."""
    if (
        target
        and target.startswith(PREFIX + "/")
        and "\\" not in target
        and not target.startswith(PREFIX + "/login")
    ):
        return target
    if role is Role.PLATFORM_ADMIN:
        return url("/platform/tenants")
    if role is Role.USER:
        return url("/wallets")
    return url("/")


def _form(request: Request, status: int = 200, **context: object) -> Response:
    token = request.cookies.get(SIGNIN_COOKIE) or new_token()
    next_path = context.pop("next", None) or request.query_params.get("next", "")
    response = render(request, "signin.html", status, signin_token=token, next=next_path, **context)
    set_cookie(request, response, SIGNIN_COOKIE, token, _SIGNIN_SECONDS)
    return response


async def signin_page(request: Request) -> Response:
    if await sessions_of(request).load(request.cookies.get(COOKIE)) is not None:
        return RedirectResponse(url("/"), status_code=303)
    return _form(request)


async def signin(request: Request) -> Response:
    form = await read_form(request)
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    if form is None or not expected or not same(form.get("csrf_token", ""), expected):
        return render(
            request, "error.html", 403, title="Forbidden",
            message="The sign-in form has expired. Reload it and try again.",
        )  # fmt: skip
    email = form.get("email", "").strip()
    password = form.get("password", "")
    next_path = form.get("next", "")
    if not email or not password:
        return _form(request, 400, error="Enter your email and password.", email=email,
                     next=next_path)  # fmt: skip
    api = anonymous_api(request)
    async with api.http:
        body = {"email": email, "password": password}
        answer = await api.call("POST", "/auth/login", json=body, anonymous=True)
        if answer.error.get("code") == "use_admin_login":
            # The password matched a platform admin's, whose door is the other one.
            answer = await api.call("POST", "/auth/admin", json=body, anonymous=True)
    if not answer.ok:
        return _form(request, answer.status if answer.status in (400, 401, 403, 429) else 502,
                     error=_refusal(answer), email=email, next=next_path)  # fmt: skip
    user = answer.body["user"]
    session = DashboardSession(
        access_token=answer.body["access_token"],
        refresh_token=answer.body["refresh_token"],
        access_expires=expires_at(int(answer.body["expires_in"])),
        user_id=user["id"],
        email=user["email"],
        role=Role(user["role"]),
        tenant_id=user.get("tenant_id"),
    )
    cookie = await sessions_of(request).create(session)
    response = RedirectResponse(_next(next_path, session.role), status_code=303)
    set_cookie(request, response, COOKIE, cookie, MAX_SECONDS)
    response.delete_cookie(SIGNIN_COOKIE, path=PREFIX)
    return response


def _refusal(answer: Answer) -> str:
    if answer.status == 401:
        return "That email and password do not match an active account."
    if answer.status == 429:
        wait = answer.headers.get("retry-after")
        return "Too many sign-in attempts from this address. " + (
            f"Try again in {wait} seconds." if wait else "Try again later."
        )
    return answer.message


@page()
async def signout(request: Request, ctx: Page) -> Response:
    with contextlib.suppress(SignedOut):  # already over: nothing more to end
        await ctx.api.call("POST", "/auth/logout")
    await ctx.api.end()
    response = RedirectResponse(url("/login"), status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


@page()
async def switch_mode(request: Request, ctx: Page) -> Response:
    mode = ctx.field("mode")
    if mode not in ("test", "live"):
        return ctx.redirect("/", "Choose test or live mode.")
    back = ctx.field("back")
    target = back if back.startswith(PREFIX + "/") and "\\" not in back else url("/")
    if mode == "live" and ctx.session.tenant_id is not None:
        # Asked first, so the switch does not turn every page into live mode's refusal.
        tenant = await ctx.api.get(f"/tenants/{ctx.session.tenant_id}")
        if tenant.get("live_mode") != "on":
            return ctx.redirect(
                target,
                "Live mode is not enabled for this tenant yet: a tenant admin requests it "
                "in Settings and a platform admin turns it on.",
            )
    ctx.session.mode = "live" if mode == "live" else "test"
    return ctx.redirect(target, f"Now in {mode} mode.")


routes = [
    Route("/login", signin_page, methods=["GET"]),
    Route("/login", signin, methods=["POST"]),
    Route("/logout", signout, methods=["POST"]),
    Route("/mode", switch_mode, methods=["POST"]),
]
