"""Read an app's `/metrics` with prometheus_client's own parser."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the app's `/metrics`: (name, labels) -> value."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def value(client: httpx.AsyncClient, name: str, **labels: str) -> float:
    """One sample's value; 0 when the app has not exported it yet (a counter never moved)."""
    return (await scrape(client)).get((name, frozenset(labels.items())), 0.0)
