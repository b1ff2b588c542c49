"""shared/redis_url.py's parsing of `redis+sentinel://` URLs (no server needed)."""

from __future__ import annotations

import pytest

from shared.redis_url import SentinelUrl, parse_sentinel


def test_other_schemes_are_redis_pys_own() -> None:
    assert parse_sentinel("redis://localhost:6379/0") is None
    assert parse_sentinel("rediss://:pw@cache:6380/1") is None


def test_every_part_of_a_sentinel_url() -> None:
    assert parse_sentinel("redis+sentinel://:p%40ss@s0:26380,s1/micro/3") == SentinelUrl(
        sentinels=(("s0", 26380), ("s1", 26379)), master="micro", db=3, password="p@ss"
    )
    assert parse_sentinel("redis+sentinel://app:pw@10.0.0.7:5000/cache") == SentinelUrl(
        sentinels=(("10.0.0.7", 5000),), master="cache", username="app", password="pw"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://s0:26379", "names its master"),
        ("redis+sentinel://s0:26379/", "names its master"),
        ("redis+sentinel://s0:26379/micro/0/extra", "names its master"),
        ("redis+sentinel://s0:port/micro", "unusable sentinel address: 's0:port'"),
        ("redis+sentinel://,s1/micro", "unusable sentinel address: ''"),
        ("redis+sentinel://s0/micro/zero", "database is a number, not 'zero'"),
    ],
)
def test_an_unusable_sentinel_url_says_why(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_sentinel(url)
