"""A tenant's slug made from its name."""

from __future__ import annotations

import pytest

from services.auth.service.tenants import slugify


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Acme", "acme"),
        ("Acme Ltd.", "acme-ltd"),
        ("  Café & Co  ", "caf-co"),
        ("dev", "dev"),
        ("a--b__c", "a-b-c"),
        ("x" * 60, "x" * 40),
        ("!!!", "tenant"),
        ("", "tenant"),
    ],
)
def test_lowercase_letters_and_digits_joined_by_single_dashes(name: str, slug: str) -> None:
    assert slugify(name) == slug
