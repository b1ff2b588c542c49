"""Events errors; all are subclasses of the shared tree in `shared.errors`."""

from __future__ import annotations

from shared.errors import NotFoundError


class EventNotFoundError(NotFoundError):
    def __init__(self, event_id: str) -> None:
        super().__init__(f"No such event: {event_id!r}.", param="id")
