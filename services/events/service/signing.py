"""Webhook endpoint secrets: Fernet-encrypted at rest with `webhook_secrets_key`, decrypted
only to show a new secret once and to sign each delivery.

Rows written before encryption (migration 0002 moved their secret to `plain_secret`) are
encrypted when the service starts, before it delivers anything, in small batches.
"""

from __future__ import annotations

import logging

from services.events.repository import deliveries as deliveries_repo
from services.events.repository import endpoints as endpoints_repo
from services.events.settings import EventsSettings
from shared import webhooks
from shared.cipher import Cipher
from shared.db import Pool, transaction

log = logging.getLogger("micro.events.signing")

_BATCH = 500


def endpoint_cipher(settings: EventsSettings) -> Cipher:
    return Cipher(
        settings.webhook_secrets_key,
        what="webhook endpoint secrets",
        setting="webhook_secrets_key",
        code="webhook_secret_unreadable",
    )


def new_secret(cipher: Cipher) -> tuple[str, bytes]:
    """A fresh `whsec_` secret and what is stored of it."""
    secret = webhooks.new_secret()
    return secret, cipher.encrypt(secret)


def signing_secrets(claimed: deliveries_repo.Claimed, cipher: Cipher) -> list[str]:
    """What a delivery is signed with: the endpoint's secret, then the one it replaced while
    that still signs (a receiver that has not switched yet verifies too)."""
    found = [cipher.decrypt(claimed.secret)]
    if claimed.previous_secret is not None:
        found.append(cipher.decrypt(claimed.previous_secret))
    return found


async def encrypt_plain_secrets(pool: Pool, cipher: Cipher) -> int:
    """Encrypt every secret still stored in plain text; returns how many there were."""
    done = 0
    while True:
        # One short transaction per batch: no long lock on the endpoints table.
        async with transaction(pool) as conn:
            plain = await endpoints_repo.plain_secrets(conn, limit=_BATCH)
            if not plain:
                break
            await endpoints_repo.store_encrypted(
                conn, [(found.id, cipher.encrypt(found.plain_secret)) for found in plain]
            )
        done += len(plain)
    if done:
        log.info("encrypted plain-text webhook secrets", extra={"count": done})
    return done
