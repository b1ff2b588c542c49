"""`micro login`, `micro logout`, `micro whoami`: the CLI's credentials for one profile.

Login stores the session (access + refresh token) and a test-mode API key made for the CLI:
the key is what `trigger`, `events` and `listen` act with, the session what `api-keys` and
`whoami` use and what renews the key if it is revoked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from typing import Annotated, Any

import typer

from cli import config
from cli.client import ApiError, Gateway, GatewayUnreachable, cli_errors, cli_key_name, fail
from cli.config import DEFAULT_API_BASE, DEFAULT_PROFILE, NotLoggedIn, Profile
from cli.options import ApiBaseOption, ProfileOption, active_profile


def masked_key(secret: str | None) -> str:
    if not secret:
        return "-"
    prefix = "sk_live_" if secret.startswith("sk_live_") else "sk_test_"
    return f"{prefix}…{secret[-4:]}"


def login(
    email: Annotated[
        str | None, typer.Option("--email", "-e", help="Account email (prompted if omitted).")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input."),
    ] = False,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key", help="Log in with an existing API key (sk_test_… or sk_live_…) instead."
        ),
    ] = None,
    api_base: Annotated[
        str | None,
        typer.Option(
            "--api-base",
            envvar="MICRO_API_BASE",
            help=f"The gateway's URL (default {DEFAULT_API_BASE}).",
            show_default=False,
        ),
    ] = None,
    profile_name: Annotated[
        str,
        typer.Option("--profile", "-p", envvar="MICRO_PROFILE", help="Profile to store it under."),
    ] = DEFAULT_PROFILE,
) -> None:
    """Sign in and store the credentials (0600 in $XDG_CONFIG_HOME/micro/config.toml)."""
    with cli_errors():
        previous = config.find_profile(profile_name)
        base = (api_base or (previous.api_base if previous else DEFAULT_API_BASE)).rstrip("/")
        if api_key is not None:
            profile = _login_with_key(profile_name, base, api_key.strip())
        else:
            profile = _login_with_password(profile_name, base, email, password_stdin, previous)
        if previous is not None:
            _retire(previous, profile)
        config.save_profile(profile, make_current=True)
    who = profile.email or f"API key {masked_key(profile.api_key)}"
    tenant = f" (tenant {profile.tenant_id})" if profile.tenant_id else ""
    typer.echo(f"Logged in as {who}{tenant} — profile {profile.name}")


def _login_with_key(name: str, base: str, secret: str) -> Profile:
    if not secret.startswith(("sk_test_", "sk_live_")):
        raise fail("An API key starts with sk_test_ or sk_live_.")
    profile = Profile(name=name, api_base=base, api_key=secret)
    with Gateway(profile) as gateway:
        try:
            gateway.get("/payments/payment_intents", params={"limit": 1})
        except ApiError as exc:
            raise fail(f"Login failed: {exc.message}") from None
    return profile


def _login_with_password(
    name: str, base: str, email: str | None, password_stdin: bool, previous: Profile | None
) -> Profile:
    if email is None:
        if password_stdin:
            # Standard input carries the password: prompting on it would read that as the email.
            raise fail("--password-stdin needs --email (e.g. --email dev@example.com).")
        email = typer.prompt("Email").strip()
    if password_stdin:
        # One line, as `docker login --password-stdin` reads it; spaces inside it count.
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise fail("--password-stdin: no password on standard input.")
    else:
        password = typer.prompt("Password", hide_input=True)
    # The Gateway's clients hold this very object: the tokens set below are what they send.
    profile = Profile(name=name, api_base=base)
    with Gateway(profile) as gateway:
        try:
            session = gateway.post(
                "/auth/login", credential="none", json={"email": email, "password": password}
            )
        except ApiError as exc:
            raise fail(f"Login failed: {exc.message}") from None
        user = session["user"]
        profile.access_token = session["access_token"]
        profile.refresh_token = session["refresh_token"]
        profile.email = user["email"]
        profile.tenant_id = user["tenant_id"]
        profile.user_id = user["id"]
        profile.role = user["role"]
        _attach_cli_key(gateway, profile, previous)
    return profile


def _attach_cli_key(gateway: Gateway, profile: Profile, previous: Profile | None) -> None:
    """Keep the CLI key from the last login if it still works for this tenant; else make one."""
    if (
        previous is not None
        and previous.api_key
        and previous.tenant_id == profile.tenant_id
        and previous.api_base == profile.api_base
        and _key_works(profile, previous.api_key)
    ):
        profile.api_key = previous.api_key
        profile.api_key_id = previous.api_key_id
        profile.api_key_created_by_cli = previous.api_key_created_by_cli
        return
    try:
        key = gateway.post(
            "/auth/api_keys",
            credential="session",
            json={"environment": "test", "name": cli_key_name()},
        )
    except ApiError as exc:
        if exc.status != 403:
            raise
        # A USER may not make keys: the session still serves the calls their role allows.
        typer.echo(
            f"micro: no API key made for the CLI ({exc.message}); commands will use your session",
            err=True,
        )
        return
    profile.api_key = key["secret"]
    profile.api_key_id = key["id"]
    profile.api_key_created_by_cli = True


def _key_works(profile: Profile, secret: str) -> bool:
    probe = Profile(name=profile.name, api_base=profile.api_base, api_key=secret)
    with Gateway(probe) as gateway:
        try:
            gateway.get("/payments/payment_intents", params={"limit": 1})
        except ApiError:
            return False
    return True


def _retire(previous: Profile, current: Profile) -> None:
    """End the replaced session, and revoke the CLI key it made unless the new login kept it.

    Best effort: a session already over, or a gateway gone, leaves nothing we could do.
    """
    quietly = contextlib.suppress(ApiError, NotLoggedIn, GatewayUnreachable)
    old_key = (
        previous.api_key_id
        if previous.api_key_created_by_cli and previous.api_key_id != current.api_key_id
        else None
    )
    same_tenant = (previous.tenant_id, previous.api_base) == (current.tenant_id, current.api_base)
    if old_key and same_tenant and current.access_token:
        # The new session may revoke it: it does not depend on the old one still working.
        with Gateway(current) as gateway, quietly:
            gateway.delete(f"/auth/api_keys/{old_key}", credential="session")
        old_key = None
    if not previous.access_token or previous.access_token == current.access_token:
        return
    # No refresh token: spending the old one only to end its session is pointless.
    stale = Profile(name=previous.name, api_base=previous.api_base)
    stale.access_token = previous.access_token
    with Gateway(stale) as gateway:
        if old_key:
            with quietly:
                gateway.delete(f"/auth/api_keys/{old_key}", credential="session")
        with quietly:
            gateway.post("/auth/logout", credential="session")


def logout(profile_name: ProfileOption = None, api_base: ApiBaseOption = None) -> None:
    """Revoke the session (and the CLI's API key) and forget the profile's credentials."""
    with cli_errors():
        name = profile_name or config.current_profile_name()
        profile = config.find_profile(name)
        if profile is None or not profile.logged_in:
            typer.echo(f"Not logged in (profile {name}): nothing to do")
            return
        target = (
            dataclasses.replace(profile, api_base=api_base.rstrip("/")) if api_base else profile
        )
        problems = _revoke_server_side(target)
        config.save_profile(profile.cleared())
    for problem in problems:
        typer.echo(f"micro: warning: {problem}", err=True)
    typer.echo(f"Logged out — profile {name}")


def _revoke_server_side(profile: Profile) -> list[str]:
    problems: list[str] = []
    if not profile.access_token:
        return problems  # an --api-key login: the key is the user's own, not ours to revoke
    with Gateway(profile) as gateway:
        try:
            if profile.api_key_created_by_cli and profile.api_key_id:
                try:
                    gateway.delete(f"/auth/api_keys/{profile.api_key_id}", credential="session")
                except ApiError as exc:
                    if exc.code not in ("api_key_revoked", "resource_missing", "not_found"):
                        problems.append(f"the CLI's API key was not revoked: {exc.message}")
            gateway.post("/auth/logout", credential="session")
        except NotLoggedIn:
            pass  # the session had already ended: nothing left to revoke with it
        except GatewayUnreachable as exc:
            problems.append(f"{exc}; the session was not revoked server-side")
        except ApiError as exc:
            problems.append(f"the session was not revoked server-side: {exc.message}")
    return problems


def whoami(profile_name: ProfileOption = None, api_base: ApiBaseOption = None) -> None:
    """Who this profile acts as: email, role, tenant, mode, API base."""
    with cli_errors():
        profile = active_profile(profile_name, api_base)
        with Gateway(profile) as gateway:
            if profile.access_token:
                user: dict[str, Any] = gateway.get("/auth/me", credential="session")
                profile.email, profile.tenant_id = user["email"], user["tenant_id"]
                profile.role = user["role"]
            else:
                gateway.get("/payments/payment_intents", params={"limit": 1})
    rows = [
        ("Email", profile.email or "(logged in with an API key)"),
        ("Role", profile.role or "-"),
        ("Tenant", profile.tenant_id or "-"),
        ("Mode", "live" if profile.livemode else "test"),
        ("API key", masked_key(profile.api_key)),
        ("API base", profile.api_base),
        ("Profile", profile.name),
    ]
    for label, value in rows:
        typer.echo(f"{label + ':':<10}{value}")
