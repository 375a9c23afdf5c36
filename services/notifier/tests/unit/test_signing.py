"""Signatures checked by the independent `standardwebhooks` package, not by our own code."""

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from notifier.domain.signing import new_secret, sign, signed_headers

BODY = b'{"type":"appointment.confirmed","timestamp":"2026-11-21T10:00:00+00:00","data":{"x":"\xc3\xa9"}}'


def test_secret_is_whsec_and_32_random_bytes():
    secret = new_secret()

    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_secret() != secret


def test_signed_headers_verify_with_standardwebhooks():
    secret = new_secret()
    headers = signed_headers(secret, "msg_1", int(time.time()), BODY)

    assert Webhook(secret).verify(BODY, headers)["type"] == "appointment.confirmed"


def test_signature_matches_the_reference_implementation():
    secret, timestamp = new_secret(), int(time.time())
    reference = Webhook(secret).sign("msg_2", datetime.fromtimestamp(timestamp, UTC), BODY.decode())

    assert sign(secret, "msg_2", timestamp, BODY) == reference


@pytest.mark.parametrize("tamper", ["body", "id", "secret", "old"])
def test_tampering_is_detected(tamper):
    secret, now = new_secret(), int(time.time())
    headers = signed_headers(secret, "msg_3", now - 600 if tamper == "old" else now, BODY)
    body = BODY.replace(b"confirmed", b"cancelled") if tamper == "body" else BODY
    if tamper == "id":
        headers["webhook-id"] = "msg_4"
    verifier = Webhook(new_secret() if tamper == "secret" else secret)

    with pytest.raises(WebhookVerificationError):
        verifier.verify(body, headers)


def test_during_a_rotation_both_secrets_sign_and_either_verifies():
    old, new, now = new_secret(), new_secret(), int(time.time())

    headers = signed_headers([new, old], "msg_4", now, BODY)

    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(BODY, headers)["type"] == "appointment.confirmed"
    assert Webhook(old).verify(BODY, headers)["type"] == "appointment.confirmed"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)
