"""Free text (descriptions) is measured and kept as the client sent it."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from services.events.schemas import UpdateEndpointRequest
from services.payments.schemas import CreateIntentRequest


def test_a_description_is_kept_with_its_surrounding_whitespace() -> None:
    assert UpdateEndpointRequest(description="  order 7 \n").description == "  order 7 \n"


@pytest.mark.parametrize(
    ("model", "fields", "limit"),
    [
        (UpdateEndpointRequest, {}, 5000),
        (CreateIntentRequest, {"amount": 100, "currency": "usd"}, 1000),
    ],
    ids=["events-5000", "payments-1000"],
)
def test_whitespace_past_the_limit_counts(
    model: type[BaseModel], fields: dict[str, object], limit: int
) -> None:
    # One character and then carriage returns: stripped, it would fit; as sent, it does not,
    # and the document's maxLength speaks of what is sent.
    model(**fields, description="§" + "\r" * (limit - 1))
    with pytest.raises(ValidationError) as refused:
        model(**fields, description="§" + "\r" * limit)
    assert refused.value.errors()[0]["loc"] == ("description",)
    assert model.model_json_schema()["properties"]["description"]["anyOf"][0]["maxLength"] == limit
