"""Prefixed, time-sortable identifiers (`pi_01jd...`).

128 bits: a 48-bit millisecond timestamp then 80 random bits, written as 26 characters of
lowercase Crockford base32. Fixed width and an alphabet whose order is the same under the
"C" collation and the usual glibc/ICU ones, so ``ORDER BY id`` is creation order whatever
locale a deployment's PostgreSQL was initialised with.
"""

from __future__ import annotations

import os
import re
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_LENGTH = 26
_PREFIX = re.compile(r"^[a-z][a-z0-9]{0,15}$")
_BODY = re.compile(rf"^[{_ALPHABET}]{{{_LENGTH}}}$")


# Two characters per 10 bits: ids are made on hot paths (three per ledger transfer).
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_VALID_PREFIXES: set[str] = set()


# Randomness read from the OS in blocks: one system call per 400 ids, not one per id.
_ENTROPY_BLOCK = 4000
_entropy = b""
_entropy_at = 0


def _random80() -> int:
    global _entropy, _entropy_at
    if _entropy_at + 10 > len(_entropy):
        _entropy, _entropy_at = os.urandom(_ENTROPY_BLOCK), 0
    chunk = _entropy[_entropy_at : _entropy_at + 10]
    _entropy_at += 10
    return int.from_bytes(chunk, "big")


def new_id(prefix: str, *, at_ms: int | None = None) -> str:
    if prefix not in _VALID_PREFIXES:
        if not _PREFIX.match(prefix):
            raise ValueError(f"bad id prefix {prefix!r}")
        _VALID_PREFIXES.add(prefix)
    ms = time.time_ns() // 1_000_000 if at_ms is None else at_ms
    value = (ms & ((1 << 48) - 1)) << 80 | _random80()
    pairs = []
    for _ in range(_LENGTH // 2):
        pairs.append(_PAIRS[value & 1023])
        value >>= 10
    return f"{prefix}_{''.join(reversed(pairs))}"


def is_id(value: object, prefix: str) -> bool:
    """True when `value` looks like an id of this kind (cheap check before a lookup)."""
    if not isinstance(value, str) or not value.startswith(prefix + "_"):
        return False
    return bool(_BODY.match(value[len(prefix) + 1 :]))


def id_timestamp_ms(value: str) -> int:
    body = value.rsplit("_", 1)[-1]
    number = 0
    for char in body:
        number = number << 5 | _ALPHABET.index(char)
    return number >> 80
