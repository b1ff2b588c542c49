"""The checks every secret passes before an app starts on it: set, long enough, of its
kind, never a published value, one key where one is asked for, no key shared between uses."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.fernet import Fernet
from pydantic import BaseModel, ValidationError, field_validator

from shared import secrets
from shared.secrets import (
    ADMIN_PASSWORD,
    CREDENTIALS,
    IDENTITY,
    PURPOSES,
    RELAY_TOKEN,
    SecretError,
    check,
    check_distinct,
    check_keys,
)

KEY = "k" * secrets.MIN_LENGTH
OTHER = "o" * secrets.MIN_LENGTH


def test_a_good_key_is_returned_as_given() -> None:
    assert check(RELAY_TOKEN, f"  {KEY} ") == KEY


def test_a_list_purpose_takes_keys_in_order() -> None:
    assert check_keys(IDENTITY, f"{KEY}, {OTHER},") == [KEY, OTHER]
    assert check_keys(IDENTITY, [KEY, OTHER]) == [KEY, OTHER]
    assert check(IDENTITY, [KEY, OTHER]) == f"{KEY},{OTHER}"


@pytest.mark.parametrize(
    ("purpose", "value", "problem"),
    [
        (RELAY_TOKEN, "", "is not set (it signs /cli/listen websocket tokens)"),
        (IDENTITY, " , ", "is not set"),
        (IDENTITY, [], "is not set"),
        (RELAY_TOKEN, None, "must be a string"),
        (RELAY_TOKEN, 42, "must be a string"),
        (RELAY_TOKEN, "k" * (secrets.MIN_LENGTH - 1), "is too short (at least 32 characters)"),
        (ADMIN_PASSWORD, "p" * 15, "is too short (at least 16 characters)"),
        (RELAY_TOKEN, [KEY, OTHER], "takes one key, not a list"),
        (IDENTITY, f"{KEY},{KEY}", "lists the same key twice"),
        (CREDENTIALS, KEY, "is not a Fernet key"),
        (RELAY_TOKEN, "change-me-" + KEY, "is a value published"),
        (RELAY_TOKEN, "EXAMPLE" + KEY, "is a value published"),
        (ADMIN_PASSWORD, "replace_me_please_now", "is a value published"),
    ],
)
def test_unusable_values_name_their_variable(
    purpose: secrets.Purpose, value: object, problem: str
) -> None:
    with pytest.raises(SecretError) as caught:
        check(purpose, value)
    assert str(caught.value).startswith(f"{purpose.env} {problem}")
    assert caught.value.purpose is purpose


def test_a_published_value_is_refused_by_its_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    monkeypatch.setattr(secrets, "PUBLISHED_SHA256", frozenset({digest}))
    with pytest.raises(SecretError, match="published"):
        check(RELAY_TOKEN, KEY)


def test_a_fernet_purpose_takes_a_fernet_key() -> None:
    key = Fernet.generate_key().decode()
    assert check(CREDENTIALS, key) == key


def test_generated_values_pass_every_check() -> None:
    values = secrets.generate()
    assert set(values) == {purpose.env for purpose in PURPOSES}
    for purpose in PURPOSES:
        check(purpose, values[purpose.env])
    check_distinct({purpose: [values[purpose.env]] for purpose in PURPOSES})
    assert secrets.generate() != values


def test_one_key_for_two_uses_is_refused() -> None:
    check_distinct({IDENTITY: [KEY], RELAY_TOKEN: [OTHER]})
    with pytest.raises(SecretError, match="reuses the value of MICRO_IDENTITY_KEYS") as caught:
        check_distinct({IDENTITY: [OTHER, KEY], RELAY_TOKEN: [KEY]})
    assert caught.value.purpose is RELAY_TOKEN


def test_derived_keys_differ_by_label() -> None:
    assert secrets.derive(KEY, "a") == secrets.derive(KEY, "a")
    assert secrets.derive(KEY, "a") != secrets.derive(KEY, "b")
    assert len(secrets.derive(KEY, "a")) == 32


def test_env_lines_round_trip() -> None:
    values = secrets.generate()
    text = "# generated\n\n" + secrets.env_lines(values)
    assert secrets.parse_env_lines(text) == values


def test_settings_fields_split_the_identity_keys() -> None:
    fields = secrets.settings_fields(
        {IDENTITY.env: f"{KEY},{OTHER}", RELAY_TOKEN.env: KEY, "UNRELATED": "x"}
    )
    assert fields == {"identity_keys": [KEY, OTHER], "relay_token_key": KEY}


class Settings(BaseModel):
    relay_token_key: str
    port: int

    @field_validator("relay_token_key")
    @classmethod
    def _secret(cls, value: str) -> str:
        return check(RELAY_TOKEN, value)


def test_explain_says_the_secret_and_how_to_make_one() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(relay_token_key="short", port=1)
    line = secrets.explain(caught.value)
    assert line == (
        "MICRO_GATEWAY_RELAY_TOKEN_KEY is too short (at least 32 characters); "
        f"{secrets.GENERATE_HINT}"
    )


def test_explain_leaves_other_errors_as_they_are() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate({"relay_token_key": KEY, "port": "x"})
    line = secrets.explain(caught.value)
    assert line.startswith("port: ")
    assert secrets.GENERATE_HINT not in line
