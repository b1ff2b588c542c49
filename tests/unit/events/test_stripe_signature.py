"""Stripe's webhook signature (shared/webhooks.py), checked with the real stripe-python
verifier (`stripe.Webhook.construct_event`, 16.1.0): what it accepts and what it refuses."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from shared import webhooks

BODY = json.dumps(
    {
        "id": "evt_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": 1_700_000_000,
        "livemode": False,
        "data": {"object": {"id": "pi_1", "object": "payment_intent", "note": "é ✓"}},
    },
    ensure_ascii=False,
).encode()


def stripe_headers(secrets: list[str], body: bytes = BODY, **kwargs: int) -> str:
    return webhooks.signed_headers("stripe", secrets, "evt_1", body, **kwargs)["Stripe-Signature"]


class TestStripeSignature:
    def test_stripe_python_constructs_the_event(self) -> None:
        secret = webhooks.new_secret()
        header = stripe_headers([secret])
        event = stripe.Webhook.construct_event(BODY, header, secret)
        assert isinstance(event, stripe.Event)
        assert (event.id, event.type) == ("evt_1", "payment_intent.succeeded")
        assert event.data.object["note"] == "é ✓"

    def test_the_same_header_as_the_sdks_own_signer(self) -> None:
        secret = webhooks.new_secret()
        ours = webhooks.stripe_signature(secret, BODY, 1_700_000_000)
        theirs = stripe.WebhookSignature.generate_signature_header(
            BODY.decode(), secret, timestamp=1_700_000_000
        )
        assert ours == theirs

    def test_only_the_stripe_header_is_sent(self) -> None:
        headers = webhooks.signed_headers("stripe", "whsec_x", "evt_1", BODY, timestamp=7)
        assert list(headers) == ["Stripe-Signature"]
        assert headers["Stripe-Signature"].startswith("t=7,v1=")

    def test_during_a_roll_either_secret_verifies(self) -> None:
        new, old = webhooks.new_secret(), webhooks.new_secret()
        header = stripe_headers([new, old])
        assert header.count("v1=") == 2
        for secret in (new, old):
            assert stripe.Webhook.construct_event(BODY, header, secret).id == "evt_1"

    def test_another_secret_does_not_verify(self) -> None:
        header = stripe_headers([webhooks.new_secret()])
        with pytest.raises(stripe.SignatureVerificationError, match="expected signature"):
            stripe.Webhook.construct_event(BODY, header, webhooks.new_secret())

    def test_another_body_does_not_verify(self) -> None:
        secret = webhooks.new_secret()
        header = stripe_headers([secret])
        tampered = BODY.replace(b"pi_1", b"pi_2")
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(tampered, header, secret)

    def test_a_standard_webhooks_signature_is_not_a_stripe_one(self) -> None:
        secret = webhooks.new_secret()
        standard = webhooks.signed_headers("standard", secret, "evt_1", BODY)
        assert "Stripe-Signature" not in standard
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(BODY, standard["webhook-signature"], secret)

    def test_an_old_timestamp_is_outside_the_tolerance(self) -> None:
        secret = webhooks.new_secret()
        header = stripe_headers([secret], timestamp=int(time.time()) - 600)
        with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
            stripe.Webhook.construct_event(BODY, header, secret)
        # The signature itself is right: without the tolerance it verifies.
        assert stripe.Webhook.construct_event(BODY, header, secret, tolerance=0).id == "evt_1"
