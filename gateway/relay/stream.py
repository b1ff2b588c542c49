"""Stream cursors and event-type filters, as the listen protocol spells them."""

from __future__ import annotations

import re

_STREAM_ID = re.compile(r"^(\d{1,20})-(\d{1,20})$")
_TYPE_PATTERN = re.compile(r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$")


def parse_stream_id(value: str) -> tuple[int, int]:
    """A Redis stream entry id ("ms-seq") as a pair that compares in stream order."""
    match = _STREAM_ID.match(value)
    if match is None:
        raise ValueError(f"not a stream id: {value!r} (expected <ms>-<seq>, e.g. 1700000000000-0)")
    return int(match.group(1)), int(match.group(2))


class TypeFilter:
    """`events=a,b`: exact types, `prefix.*` for a family, `*` (or nothing) for all."""

    def __init__(self, spec: str | None) -> None:
        self.exact: set[str] = set()
        self.prefixes: list[str] = []
        self.everything = False
        items = [item.strip() for item in (spec or "").split(",") if item.strip()]
        if not items:
            self.everything = True
        for item in items:
            if not _TYPE_PATTERN.match(item):
                raise ValueError(
                    f"bad event type {item!r}: use a type (payment_intent.succeeded), "
                    "a family (payment_intent.*) or *"
                )
            if item == "*":
                self.everything = True
            elif item.endswith(".*"):
                self.prefixes.append(item[:-1])
            else:
                self.exact.add(item)

    def matches(self, event_type: str) -> bool:
        return (
            self.everything
            or event_type in self.exact
            or any(event_type.startswith(prefix) for prefix in self.prefixes)
        )
