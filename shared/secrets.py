"""The secrets Micro needs, one per purpose, and the checks that refuse an unusable one.

Purposes are kept apart so that one leaked value opens nothing else:

    MICRO_IDENTITY_KEYS               every app   signs X-Micro-Identity (comma list: the first
                                                  signs, all verify, so the key rotates live)
    MICRO_GATEWAY_RELAY_TOKEN_KEY     gateway     signs /cli/listen websocket tokens
    MICRO_GATEWAY_LISTEN_SIGNING_KEY  gateway     derives each tenant's `micro listen` secret
    MICRO_PAYMENTS_CREDENTIALS_KEY    payments    Fernet key(s): provider credentials at rest
    MICRO_EVENTS_WEBHOOK_SECRETS_KEY  events      Fernet key(s): webhook endpoint secrets at rest
    MICRO_AUTH_ADMIN_PASSWORD         auth        the platform admin's password, set at start-up

No app has a default: a value that is missing, too short, not a Fernet key where one is
needed, or known from Micro's own source refuses the app's start with one line naming the
variable. `micro secrets generate` prints a fresh value for every purpose.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from cryptography.fernet import Fernet
from pydantic import ValidationError

GENERATE_HINT = "`micro secrets generate` prints a value for every secret"
# 32 characters of token_urlsafe carry 192 bits; anything shorter is a password, not a key.
MIN_LENGTH = 32
# A password is typed by a person, but this one opens every tenant: long, never guessable.
MIN_PASSWORD_LENGTH = 16


@dataclass(frozen=True, slots=True)
class Purpose:
    env: str
    field: str
    kind: Literal["hmac", "fernet", "password"]
    # A comma-separated list, the first one in use, the rest still accepted (rotation).
    many: bool
    what: str


IDENTITY = Purpose(
    "MICRO_IDENTITY_KEYS", "identity_keys", "hmac", True, "signs X-Micro-Identity tokens"
)
RELAY_TOKEN = Purpose(
    "MICRO_GATEWAY_RELAY_TOKEN_KEY",
    "relay_token_key",
    "hmac",
    False,
    "signs /cli/listen websocket tokens",
)
LISTEN_SIGNING = Purpose(
    "MICRO_GATEWAY_LISTEN_SIGNING_KEY",
    "listen_signing_key",
    "hmac",
    False,
    "derives the `micro listen` signing secrets",
)
CREDENTIALS = Purpose(
    "MICRO_PAYMENTS_CREDENTIALS_KEY",
    "credentials_key",
    "fernet",
    True,
    "encrypts provider credentials at rest",
)
WEBHOOK_SECRETS = Purpose(
    "MICRO_EVENTS_WEBHOOK_SECRETS_KEY",
    "webhook_secrets_key",
    "fernet",
    True,
    "encrypts webhook endpoint secrets at rest",
)
ADMIN_PASSWORD = Purpose(
    "MICRO_AUTH_ADMIN_PASSWORD",
    "admin_password",
    "password",
    False,
    "is the platform admin's password, ensured at start-up",
)
PURPOSES: tuple[Purpose, ...] = (
    IDENTITY,
    RELAY_TOKEN,
    LISTEN_SIGNING,
    CREDENTIALS,
    WEBHOOK_SECRETS,
    ADMIN_PASSWORD,
)

# The SHA-256 of every value that was once written in Micro's source or docs as a default
# (the old internal secret, compose's placeholder, the dev Fernet keys, the dev admin
# password): anyone may know them, so they are never a secret again. Kept as digests so the
# source does not go on publishing them.
PUBLISHED_SHA256 = frozenset(
    {
        "811e6f0a41de4f8e5100f73e62c0eed94ba22b554abaa2450fdfd9d4ec7b0968",
        "dda359248fa9ef7204176128db1c46d7a4999f51d78010d596025db3687504a7",
        "e7cf2b2a6cdffda22e4edb9955499e748c2e262eea78a494ae94975c17ddad22",
        "3862e8c67b90a77d162275bc75f388401b80160ee998cf60cb8569275ac4b422",
        "58f291b7794fdb50e97c6bca21ba949df567bb6b0d6e31fd31db1ed1bfd3ee2d",
    }
)
# A value with one of these in it was copied from an example, not generated.
_PLACEHOLDER = re.compile(r"change[-_]?me|replace[-_]?me|example", re.IGNORECASE)


class SecretError(ValueError):
    """A secret is unusable; the message names its variable and says what is wrong."""

    def __init__(self, purpose: Purpose, problem: str) -> None:
        super().__init__(f"{purpose.env} {problem}")
        self.purpose = purpose


def check(purpose: Purpose, value: object) -> str:
    """The value (one key, or a comma list of them for a `many` purpose), or SecretError."""
    return ",".join(check_keys(purpose, value))


def check_keys(purpose: Purpose, value: object) -> list[str]:
    """Each key of the value, in order, all checked."""
    if isinstance(value, str):
        raw = value.split(",") if purpose.many else [value]
    elif isinstance(value, list | tuple):
        raw = [str(item) for item in value]
    else:
        raise SecretError(purpose, "must be a string")
    keys = [key.strip() for key in raw if key.strip()]
    if not keys:
        raise SecretError(purpose, f"is not set (it {purpose.what})")
    if len(keys) > 1 and not purpose.many:
        raise SecretError(purpose, "takes one key, not a list")
    for key in keys:
        _check_one(purpose, key)
    if len(set(keys)) != len(keys):
        raise SecretError(purpose, "lists the same key twice")
    return keys


def _check_one(purpose: Purpose, key: str) -> None:
    if hashlib.sha256(key.encode()).hexdigest() in PUBLISHED_SHA256 or _PLACEHOLDER.search(key):
        raise SecretError(purpose, "is a value published in Micro's source or docs")
    if purpose.kind == "fernet":
        try:
            Fernet(key.encode())
        except ValueError:
            raise SecretError(
                purpose, "is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None
    else:
        least = MIN_PASSWORD_LENGTH if purpose.kind == "password" else MIN_LENGTH
        if len(key) < least:
            raise SecretError(purpose, f"is too short (at least {least} characters)")


def check_distinct(values: Mapping[Purpose, Iterable[str]]) -> None:
    """One app's purposes share no key: a leak of one must not open another."""
    seen: dict[str, Purpose] = {}
    for purpose, keys in values.items():
        for key in keys:
            other = seen.setdefault(key, purpose)
            if other is not purpose:
                raise SecretError(purpose, f"reuses the value of {other.env}: each needs its own")


def derive(key: str, label: str) -> bytes:
    """A sub-key for one use of a purpose's key (HMAC-SHA256 over the label)."""
    return hmac.new(key.encode(), label.encode(), hashlib.sha256).digest()


def generate() -> dict[str, str]:
    """A fresh value for every purpose, by variable name."""
    values = {}
    for purpose in PURPOSES:
        if purpose.kind == "fernet":
            values[purpose.env] = Fernet.generate_key().decode()
        elif purpose.kind == "password":
            values[purpose.env] = secrets.token_urlsafe(18)
        else:
            values[purpose.env] = secrets.token_urlsafe(32)
    return values


def env_lines(values: Mapping[str, str]) -> str:
    return "".join(f"{name}={value}\n" for name, value in values.items())


def parse_env_lines(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def settings_fields(values: Mapping[str, str]) -> dict[str, object]:
    """Env values (by variable name) as settings fields, for building settings in code."""
    fields: dict[str, object] = {}
    for purpose in PURPOSES:
        if purpose.env in values:
            value = values[purpose.env]
            fields[purpose.field] = value.split(",") if purpose is IDENTITY else value
    return fields


def explain(error: ValidationError) -> str:
    """One line for a settings error: the secret at fault and how to make one, if a secret."""
    problems = []
    secret = False
    for item in error.errors():
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, SecretError):
            secret = True
            problems.append(str(cause))
        else:
            where = ".".join(str(part) for part in item["loc"]) or "settings"
            # A validator's own words, without pydantic's "Value error, " before them.
            words = str(cause) if isinstance(cause, ValueError) else item["msg"]
            problems.append(f"{where}: {words}")
    line = "; ".join(problems)
    return f"{line}; {GENERATE_HINT}" if secret else line
