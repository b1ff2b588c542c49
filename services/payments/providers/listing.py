"""Walking a provider's paged lists for settlement reconciliation, bounded.

A period's list is read page by page until the provider says there is no more; past
`MAX_PAGES` pages the period is refused as too large to reconcile in one run (rather than
reporting only part of it as if it were all). A timeout or a 5xx fails the run: a partial
list would report everything after it as missing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from services.payments.providers.http import ProviderRequestError, ProviderTimeout

PER_PAGE = 100
MAX_PAGES = 50

# (page number) -> (status, answer)
Fetch = Callable[[int], Awaitable[tuple[int, dict[str, Any]]]]


class ProviderListError(ProviderRequestError):
    default_code = "provider_list_failed"


async def every_page(
    fetch: Fetch, *, name: str, what: str, more: Callable[[dict[str, Any], int], bool]
) -> list[dict[str, Any]]:
    """Every item of every page; `more(answer, page)` says whether a page follows."""
    items: list[dict[str, Any]] = []
    for page in range(1, MAX_PAGES + 1):
        try:
            status, answer = await fetch(page)
        except ProviderTimeout as exc:
            raise ProviderListError(f"{name} did not answer listing its {what}: {exc}") from None
        data = answer.get("data")
        if status >= 400 or not isinstance(data, list):
            raise ProviderListError(
                f"{name} refused to list its {what}: {answer.get('message') or status}"
            )
        items.extend(item for item in data if isinstance(item, dict))
        if not data or not more(answer, page):
            return items
    raise ProviderListError(
        f"{name} lists more than {MAX_PAGES} pages of {what} for this period: reconcile a "
        "shorter one.",
        param="to",
    )


def when(value: Any) -> datetime | None:
    """A provider's ISO 8601 timestamp (with `Z` or an offset, or naive UTC)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
