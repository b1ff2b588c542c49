"""Password hashing with bcrypt.

bcrypt reads at most 72 bytes, so two long passwords sharing a prefix would hash alike. Every
password is first condensed to a fixed 44-byte SHA-256 digest in base64 (no NUL bytes, which
bcrypt also stops at), so all of it counts. Hashing runs in a thread: it is deliberately slow
and would otherwise stall every other request on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib

import bcrypt

MIN_LENGTH = 8
MAX_LENGTH = 1024


def _condensed(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode()).digest())


async def hash_password(password: str, *, rounds: int) -> str:
    hashed = await asyncio.to_thread(bcrypt.hashpw, _condensed(password), bcrypt.gensalt(rounds))
    return hashed.decode()


async def verify_password(password: str, hashed: str) -> bool:
    return await asyncio.to_thread(bcrypt.checkpw, _condensed(password), hashed.encode())


# Checked against when the email is unknown, so the answer takes as long either way.
_DUMMY = bcrypt.hashpw(b"no-such-user", bcrypt.gensalt(4)).decode()


async def burn_time(password: str) -> None:
    await verify_password(password, _DUMMY)
