"""The wallet's event listener acknowledges at once every entry it does not follow (other
services' news, most of the stream), a whole batch in one call, so none stays pending."""

from __future__ import annotations

import secrets
from typing import Any

import redis.asyncio as aioredis

from services.wallet.service.notifications import Listener
from shared.outbox import ALL_STREAM
from tests.support.wallet import World


async def test_entries_it_does_not_follow_are_acknowledged_and_none_stays_pending(
    services: World, redis_url: str
) -> None:
    redis = aioredis.from_url(redis_url)
    group = f"wallet-acks-{secrets.token_hex(4)}"
    try:
        await redis.xgroup_create(ALL_STREAM, group, id="$", mkstream=True)
        ours = [
            await redis.xadd(ALL_STREAM, {"id": f"evt_{n}", "type": kind, "event": "{}"})
            for n, kind in enumerate(("transaction.created", "customer.created", "account.created"))
        ]
        listener = Listener(services.app.state, redis, group=group)
        read: Any = await redis.xreadgroup(group, listener.consumer, {ALL_STREAM: ">"}, count=100)
        entries = [entry for _stream, batch in read for entry in batch if entry[0] in ours]
        assert [entry[0] for entry in entries] == ours
        await listener._take(entries)
        pending: Any = await redis.xpending_range(
            ALL_STREAM, group, min="-", max="+", count=100, consumername=listener.consumer
        )
        assert not [p for p in pending if p["message_id"] in ours]
    finally:
        await redis.xgroup_destroy(ALL_STREAM, group)
        await redis.aclose()
