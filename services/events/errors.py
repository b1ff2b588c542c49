"""Events errors; all are subclasses of the shared tree in `shared.errors`.

NotFoundError (404 resource_missing)
├── EventNotFoundError
└── EndpointNotFoundError
InvalidRequestError (400)
├── UrlNotAllowedError        url_not_allowed: not a URL, or outside live mode's allow-list
├── EndpointLimitError        endpoint_limit: too many endpoints for one tenant and mode
└── MetadataLimitError        parameter_invalid: an update would leave more than 50 keys
PermissionDeniedError (403 role_required)
"""

from __future__ import annotations

from shared.errors import InvalidRequestError, NotFoundError


class EventNotFoundError(NotFoundError):
    def __init__(self, event_id: str) -> None:
        super().__init__(f"No such event: {event_id!r}.", param="id")


class EndpointNotFoundError(NotFoundError):
    def __init__(self, endpoint_id: str, *, param: str = "id") -> None:
        super().__init__(f"No such webhook endpoint: {endpoint_id!r}.", param=param)


class UrlNotAllowedError(InvalidRequestError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="url_not_allowed", param="url")


class EndpointLimitError(InvalidRequestError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"A tenant may have at most {limit} webhook endpoints per mode.",
            code="endpoint_limit",
        )


class MetadataLimitError(InvalidRequestError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"Metadata can have at most {limit} keys.", param="metadata")
