"""Times on the wire are Unix seconds, as in Stripe's API."""

from __future__ import annotations

from datetime import datetime


def unix(moment: datetime) -> int:
    return int(moment.timestamp())
