"""Request and response models of the events API (Stripe's Event and WebhookEndpoint shapes)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from shared.pagination import ListParams
from shared.text import LongFreeText
from shared.webhooks import Scheme

# `payment_intent.succeeded`, a family wildcard `payment_intent.*`, or `*` for everything.
_EVENT_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?$")
MAX_ENABLED_EVENTS = 256


def _event_pattern(value: str) -> str:
    if value != "*" and (len(value) > 100 or "." not in value or not _EVENT_PATTERN.match(value)):
        raise ValueError(f"{value!r} is not an event type (e.g. payment_intent.succeeded or *)")
    return value


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


# The same rule for the document, so clients (and fuzzers) know a type needs a dot.
_EVENT_SCHEMA = {
    "type": "string",
    "maxLength": 100,
    "pattern": r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.([a-z][a-z0-9_]*|\*))$",
}
EventPattern = Annotated[str, AfterValidator(_event_pattern), WithJsonSchema(_EVENT_SCHEMA)]
EnabledEvents = Annotated[
    list[EventPattern],
    Field(min_length=1, max_length=MAX_ENABLED_EVENTS),
    AfterValidator(_unique),
]
Description = LongFreeText
# The service checks where a URL may point (services/events/service); the document states the
# part a schema can: an http(s) URL.
EndpointUrl = Annotated[
    str,
    Field(min_length=1),
    WithJsonSchema({"type": "string", "format": "uri", "pattern": r"^https?://[^\s/]+"}),
]


# Stripe's limits: 50 keys, key names up to 40 characters, values up to 500. Kept as sent:
# metadata is the tenant's own, so the models' whitespace stripping does not apply.
MetadataKey = Annotated[str, StringConstraints(strip_whitespace=False, min_length=1, max_length=40)]
MetadataValue = Annotated[str, StringConstraints(strip_whitespace=False, max_length=500)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=50)]
MAX_METADATA_KEYS = 50
# A Stripe API version: `2025-09-30.clover`, `2020-08-27`.
API_VERSION_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(\.[a-z_]+)?$"
ApiVersion = Annotated[str, Field(max_length=40, pattern=API_VERSION_PATTERN)]


def patterns_matching(event_type: str) -> list[str]:
    """Every `enabled_events` entry that selects this type: itself, its families, and `*`."""
    parts = event_type.split(".")
    families = [".".join(parts[:i]) + ".*" for i in range(1, len(parts))]
    return ["*", *families, event_type]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CreateEndpointRequest(_Request):
    url: EndpointUrl
    enabled_events: EnabledEvents
    description: Description | None = None
    disabled: bool = False
    # `standard` (Standard Webhooks) or `stripe` (`Stripe-Signature`); by default `stripe`
    # on Stripe's `/v1` path, `standard` on Micro's own.
    signature: Scheme | None = None
    metadata: Metadata | None = None
    # The Stripe API version to record; by default the request's `Stripe-Version`, if any.
    api_version: ApiVersion | None = None


class UpdateEndpointRequest(_Request):
    url: EndpointUrl | None = None
    enabled_events: EnabledEvents | None = None
    description: Description | None = None
    disabled: bool | None = None
    signature: Scheme | None = None
    # Merged into the endpoint's, as Stripe does: a key set to "" is removed, and
    # `metadata=""` removes them all.
    metadata: Metadata | Literal[""] | None = None


# Longest time the previous secret keeps signing after a roll (Svix keeps it 24 h).
MAX_ROLL_EXPIRES_IN = 86400


class RollSecretRequest(_Request):
    # Seconds the previous secret keeps signing beside the new one; 0: it stops at once.
    expires_in: Annotated[int, Field(ge=0, le=MAX_ROLL_EXPIRES_IN)] = 0


class ResendRequest(_Request):
    # Only this endpoint (Stripe CLI's `--webhook-endpoint`); otherwise every matching one.
    webhook_endpoint: Annotated[str, Field(max_length=100)] | None = None
    # Whether `micro listen` sessions get it again too.
    live: bool = True


class CreatedRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gt: Annotated[int, Field(ge=0)] | None = None
    gte: Annotated[int, Field(ge=0)] | None = None
    lt: Annotated[int, Field(ge=0)] | None = None
    lte: Annotated[int, Field(ge=0)] | None = None


MAX_TYPES = 20


class EventListParams(ListParams):
    type: EventPattern | None = None
    # Stripe's `types[]=a&types[]=b` (or `types[0]=a`): any of these (up to 20); not with `type`.
    types: Annotated[list[EventPattern], Field(min_length=1, max_length=MAX_TYPES)] | None = None
    # `created=T` (exactly) or `created[gte]=T` and friends, in unix seconds.
    created: CreatedRange | None = None
    # Platform admins only: another tenant's events.
    tenant_id: Annotated[str, Field(max_length=100)] | None = None
    # Only the events about this object (`data.object.id`, e.g. a PaymentIntent's id).
    object_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None

    @field_validator("created", mode="before")
    @classmethod
    def _exact_created(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else {"gte": value, "lte": value}

    def created_bounds(self) -> dict[str, int]:
        """Comparison operator -> unix seconds."""
        if self.created is None:
            return {}
        ops = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
        return {
            ops[name]: value
            for name, value in self.created.model_dump().items()
            if value is not None
        }


class EventRequest(BaseModel):
    """The API request that caused the event, if any."""

    id: str | None
    idempotency_key: str | None


class Event(BaseModel):
    """An event as the API shows it: the stored JSON, byte for byte (documentation model)."""

    id: str
    object: Literal["event"] = "event"
    type: str
    created: int
    livemode: bool
    tenant_id: str
    data: dict[str, Any]
    request: EventRequest


class WebhookEndpoint(BaseModel):
    id: str
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    url: str
    description: str | None
    enabled_events: list[str]
    status: Literal["enabled", "disabled"]
    disabled_reason: str | None
    livemode: bool
    # True for the endpoint kept from the tenant's `webhook_url`.
    default: bool
    created: int
    # How deliveries are signed: `standard` (Standard Webhooks) or `stripe`.
    signature: Scheme
    metadata: dict[str, str]
    # The Stripe-Version it was created with (Micro renders every event the same way).
    api_version: str | None
    # Until when (unix seconds) the secret in force before the last roll signs too.
    previous_secret_expires: int | None = None
    # Shown when the endpoint is created and when its secret is rolled, never otherwise.
    secret: str | None = None


class DeletedEndpoint(BaseModel):
    id: str
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    deleted: Literal[True] = True


class DeliveryAttempt(BaseModel):
    id: str
    object: Literal["webhook_delivery_attempt"] = "webhook_delivery_attempt"
    event_id: str
    webhook_endpoint: str
    delivery: str
    url: str
    attempt: int
    succeeded: bool
    status_code: int | None
    error: str | None
    duration_ms: int
    # Unix seconds; `created` is when the attempt started.
    created: int
    completed: int
    next_attempt: int | None
    livemode: bool


class BacklogDeliveries(BaseModel):
    """Deliveries still owed, and the endpoints they wait on."""

    pending: int = Field(description="Deliveries with status `pending`.", examples=[12])
    due: int = Field(description="Pending deliveries whose next attempt is due now.", examples=[3])
    oldest_due_seconds: float | None = Field(
        description="How long the oldest due delivery has been due; null when none is.",
        examples=[4.2],
    )
    failing_endpoints: int = Field(
        description="Enabled endpoints whose deliveries are failing (`failing_since` set).",
        examples=[1],
    )
    disabled_endpoints: int = Field(description="Endpoints disabled.", examples=[0])


class BacklogLag(BaseModel):
    """How long events took from their source's commit to the log, over a recent window."""

    window_seconds: int = Field(description="The window, up to now.", examples=[600])
    events: int = Field(description="Events stored in the window.", examples=[240])
    p50_ms: float | None = Field(
        description="Median of stored minus created, in ms; null when no event came.",
        examples=[850.0],
    )
    max_ms: float | None = Field(
        description="Largest stored minus created, in ms; null when no event came.",
        examples=[1900.0],
    )


class BacklogOutbox(BaseModel):
    """The events service's own outbox (the events it emits, e.g. endpoint changes)."""

    pending: int = Field(description="Rows not published yet.", examples=[0])
    oldest_seconds: float | None = Field(
        description="How long the oldest unpublished row has waited; null when none does.",
        examples=[None],
    )


class EventsBacklog(BaseModel):
    """Whether events are flowing, across every tenant and both modes (platform admins)."""

    object: Literal["events.backlog"] = "events.backlog"
    deliveries: BacklogDeliveries
    lag: BacklogLag
    outbox: BacklogOutbox
