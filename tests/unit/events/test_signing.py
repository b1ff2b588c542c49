"""What a delivery is signed with and how (service/signing.py over shared/webhooks.py): the
Standard Webhooks signature, both secrets during a roll, the secrets encrypted at rest."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.events.repository import deliveries as deliveries_repo
from services.events.service.signing import new_secret, signing_secrets
from shared import webhooks
from shared.cipher import Cipher
from shared.errors import ApiError

BODY = b'{"id":"evt_1","object":"event","note":"\xc3\xa9"}'


def cipher(keys: str) -> Cipher:
    return Cipher(
        keys,
        what="webhook endpoint secrets",
        setting="webhook_secrets_key",
        code="webhook_secret_unreadable",
    )


def claimed(secret: bytes, previous: bytes | None = None) -> deliveries_repo.Claimed:
    return deliveries_repo.Claimed(
        id="whdel_1",
        event_id="evt_1",
        endpoint_id="we_1",
        tenant_id="ten_1",
        livemode=False,
        attempts=1,
        payload=BODY.decode(),
        url="https://hooks.example.com/",
        signature="standard",
        secret=secret,
        previous_secret=previous,
    )


class TestSignature:
    def test_the_standard_webhooks_test_vector(self) -> None:
        # From the Standard Webhooks specification's own examples.
        signature = webhooks.sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            b'{"test": 2432232314}',
        )
        assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

    def test_the_official_verifier_accepts_the_headers(self) -> None:
        secret = webhooks.new_secret()
        headers = webhooks.headers([secret], "evt_1", BODY)
        assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
        assert headers["webhook-id"] == "evt_1"
        Webhook(secret).verify(BODY, headers, json_parse=False)

    def test_another_body_or_secret_does_not_verify(self) -> None:
        secret = webhooks.new_secret()
        headers = webhooks.headers([secret], "evt_1", BODY)
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(BODY + b" ", headers, json_parse=False)
        with pytest.raises(WebhookVerificationError):
            Webhook(webhooks.new_secret()).verify(BODY, headers, json_parse=False)

    def test_during_a_roll_each_secret_verifies(self) -> None:
        new, old = webhooks.new_secret(), webhooks.new_secret()
        headers = webhooks.headers([new, old], "evt_1", BODY, timestamp=1_700_000_000)
        signatures = headers["webhook-signature"].split(" ")
        assert signatures == [
            webhooks.sign(new, "evt_1", 1_700_000_000, BODY),
            webhooks.sign(old, "evt_1", 1_700_000_000, BODY),
        ]


class TestSecretsAtRest:
    def test_a_new_secret_is_shown_plain_and_stored_encrypted(self) -> None:
        keys = cipher(Fernet.generate_key().decode())
        secret, stored = new_secret(keys)
        assert secret.startswith("whsec_")
        assert secret.encode() not in stored
        assert keys.decrypt(stored) == secret

    def test_a_delivery_is_signed_with_the_secret_then_the_one_it_replaced(self) -> None:
        keys = cipher(Fernet.generate_key().decode())
        assert signing_secrets(claimed(keys.encrypt("whsec_new")), keys) == ["whsec_new"]
        both = claimed(keys.encrypt("whsec_new"), keys.encrypt("whsec_old"))
        assert signing_secrets(both, keys) == ["whsec_new", "whsec_old"]

    def test_a_rotated_key_still_reads_what_the_old_one_wrote(self) -> None:
        old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
        stored = cipher(old_key).encrypt("whsec_kept")
        assert signing_secrets(claimed(stored), cipher(f"{new_key},{old_key}")) == ["whsec_kept"]

    def test_a_key_that_cannot_read_them_says_so(self) -> None:
        stored = cipher(Fernet.generate_key().decode()).encrypt("whsec_lost")
        with pytest.raises(ApiError, match="webhook_secrets_key") as caught:
            signing_secrets(claimed(stored), cipher(Fernet.generate_key().decode()))
        assert caught.value.code == "webhook_secret_unreadable"
