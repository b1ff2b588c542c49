"""HTTP to the gateway with a profile's credential, for every `micro` command that calls the API.

Two credentials live in a profile: the session (access + refresh token) for user-level calls
(`whoami`, `api-keys`), and the test-mode API key `micro login` made, for API calls (`trigger`,
`events`, `listen`). `ProfileAuth` attaches the right one and heals what it can by itself:

- an access token that expired (or is refused with 401) is refreshed once through
  `POST /auth/refresh`, the new pair saved, the request retried;
- an API key the gateway refuses (revoked, rolled) is replaced by a new CLI key made with the
  session, when there is one.

It is an `httpx.Auth`, so the same logic serves `client()` and `async_client()`. Refreshing
holds the config file lock and re-reads the profile first: refresh tokens rotate and a reused
one revokes the session, so two `micro` processes must not both spend the same token.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Generator, Iterator
from typing import Any, Literal

import httpx
import jwt
import typer

from cli import config
from cli.config import ConfigError, NotLoggedIn, Profile

Credential = Literal["session", "key", "none"]

USER_AGENT = "micro-cli"
# Refresh a little before the access token's expiry rather than spend a request on a 401.
EXPIRY_MARGIN_SECONDS = 10
# Codes of a refused API key that a fresh key would cure.
_DEAD_KEY_CODES = frozenset({"api_key_revoked", "api_key_expired", "invalid_api_key"})


class GatewayUnreachable(Exception):
    def __init__(self, api_base: str) -> None:
        super().__init__(
            f"Gateway unreachable at {api_base}: is the stack running? (`micro dev up`)"
        )
        self.api_base = api_base


class ApiError(Exception):
    """A 4xx/5xx from the API, carrying its error object."""

    def __init__(
        self, status: int, message: str, *, type: str = "api_error", code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        error = _error_object(response)
        message = error.get("message") or f"HTTP {response.status_code} from {response.url}"
        return cls(
            response.status_code,
            str(message),
            type=str(error.get("type") or "api_error"),
            code=error.get("code"),
        )


def _error_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def cli_key_name() -> str:
    return f"micro CLI ({socket.gethostname()})"


class ProfileAuth(httpx.Auth):
    """Bearer credential from the profile, with session refresh and API-key renewal."""

    requires_response_body = True

    def __init__(self, profile: Profile, credential: Credential) -> None:
        self.profile = profile
        self.credential = credential

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.credential == "none":
            yield request
            return
        if self.credential == "key" and self.profile.api_key:
            request.headers["Authorization"] = f"Bearer {self.profile.api_key}"
            response = yield request
            if response.status_code != 401 or not self.profile.access_token:
                return
            if _error_object(response).get("code") not in _DEAD_KEY_CODES:
                return
            yield from self._renew_key()
            request.headers["Authorization"] = f"Bearer {self.profile.api_key}"
            yield request
            return
        # A session call, or a key call from a profile with no key (e.g. a USER's login).
        if not self.profile.access_token:
            if self.profile.api_key:
                raise NotLoggedIn(
                    self.profile.name, "This needs a signed-in user, not only an API key"
                )
            raise NotLoggedIn(self.profile.name)
        if _expires_soon(self.profile.access_token):
            yield from self._refresh(spent=self.profile.access_token)
        yield from self._with_session(request)

    def _with_session(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, httpx.Response]:
        token = self.profile.access_token
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return response
        yield from self._refresh(spent=token)
        request.headers["Authorization"] = f"Bearer {self.profile.access_token}"
        return (yield request)

    def _refresh(self, *, spent: str | None) -> Generator[httpx.Request, httpx.Response, None]:
        """Trade the refresh token for a new pair, unless another process already did."""
        with config.locked():
            stored = config.find_profile(self.profile.name)
            if stored is not None and stored.access_token and stored.access_token != spent:
                self.profile.access_token = stored.access_token
                self.profile.refresh_token = stored.refresh_token
                return
            if not self.profile.refresh_token:
                raise NotLoggedIn(self.profile.name, "Your session has expired")
            response = yield httpx.Request(
                "POST",
                _url(self.profile, "/auth/refresh"),
                json={"refresh_token": self.profile.refresh_token},
                headers={"User-Agent": USER_AGENT},
            )
            if response.status_code in (400, 401, 403):
                # The session is over for good: forget it, keep whatever else still works.
                self.profile.access_token = None
                self.profile.refresh_token = None
                _save_credentials(self.profile)
                raise NotLoggedIn(self.profile.name, "Your session has expired")
            if response.status_code != 200:
                raise ApiError.from_response(response)
            tokens = response.json()
            self.profile.access_token = tokens["access_token"]
            self.profile.refresh_token = tokens["refresh_token"]
            _save_credentials(self.profile)

    def _renew_key(self) -> Generator[httpx.Request, httpx.Response, None]:
        request = httpx.Request(
            "POST",
            _url(self.profile, "/auth/api_keys"),
            json={"environment": "test", "name": cli_key_name()},
            headers={"User-Agent": USER_AGENT},
        )
        if _expires_soon(self.profile.access_token):
            yield from self._refresh(spent=self.profile.access_token)
        response = yield from self._with_session(request)
        if response.status_code != 201:
            raise NotLoggedIn(self.profile.name, "The stored API key no longer works")
        key = response.json()
        self.profile.api_key = key["secret"]
        self.profile.api_key_id = key["id"]
        self.profile.api_key_created_by_cli = True
        _save_credentials(self.profile)


def _url(profile: Profile, path: str) -> str:
    return profile.api_base.rstrip("/") + path


def _expires_soon(token: str | None) -> bool:
    if not token:
        return False
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False  # not a JWT we can read: let the gateway judge it
    exp = claims.get("exp")
    return isinstance(exp, int | float) and exp - EXPIRY_MARGIN_SECONDS <= time.time()


def _save_credentials(profile: Profile) -> None:
    """Store the renewed credentials on top of what the file holds for this profile now."""
    with config.locked():
        stored = config.find_profile(profile.name) or profile
        stored.access_token = profile.access_token
        stored.refresh_token = profile.refresh_token
        stored.api_key = profile.api_key
        stored.api_key_id = profile.api_key_id
        stored.api_key_created_by_cli = profile.api_key_created_by_cli
        config.save_profile(stored)


def client(profile: Profile, credential: Credential = "key", **kwargs: Any) -> httpx.Client:
    """A gateway client for `profile` (close it, or use it in a `with`)."""
    kwargs.setdefault("timeout", 30.0)
    return httpx.Client(
        base_url=profile.api_base,
        auth=ProfileAuth(profile, credential),
        headers={"User-Agent": USER_AGENT},
        **kwargs,
    )


def async_client(
    profile: Profile, credential: Credential = "key", **kwargs: Any
) -> httpx.AsyncClient:
    kwargs.setdefault("timeout", 30.0)
    return httpx.AsyncClient(
        base_url=profile.api_base,
        auth=ProfileAuth(profile, credential),
        headers={"User-Agent": USER_AGENT},
        **kwargs,
    )


class Gateway:
    """The synchronous calls the commands make: JSON in, JSON out, errors as exceptions."""

    def __init__(self, profile: Profile, *, timeout: float = 30.0) -> None:
        self.profile = profile
        self._clients = {
            credential: client(profile, credential, timeout=timeout)
            for credential in ("key", "session", "none")
        }

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        for each in self._clients.values():
            each.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        credential: Credential = "key",
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        try:
            response = self._clients[credential].request(method, path, json=json, params=params)
        except httpx.TransportError as exc:
            if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                raise GatewayUnreachable(self.profile.api_base) from None
            raise ApiError(0, f"No answer from {self.profile.api_base}: {exc}") from None
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response.json() if response.content else None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)


def fail(message: str) -> typer.Exit:
    """Print one line on stderr; raise the returned Exit to stop with status 1."""
    typer.echo(f"micro: {message}", err=True)
    return typer.Exit(1)


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Turn the errors a command can meet into one clear line on stderr and exit 1."""
    try:
        yield
    except (NotLoggedIn, GatewayUnreachable, ConfigError) as exc:
        raise fail(str(exc)) from None
    except ApiError as exc:
        raise fail(exc.message) from None
