"""SMTP trouble: a transient refusal is retried with backoff from the deliveries table, without holding up other
messages, and ends in exactly one email; a permanent refusal is given up at once."""

from __future__ import annotations

import pytest

from smartslot_common.testing import wait_for

pytestmark = pytest.mark.integration


def refused_ids(notifier, recipient):
    return [message_id for to, message_id in notifier.sink.handler.refused if to == recipient.lower()]


async def test_three_refusals_then_exactly_one_email(notifier):
    unlucky, lucky = notifier.appointment(), notifier.appointment()
    notifier.sink.refuse(unlucky["client_email"], 3)

    event = await notifier.publish("appointment.confirmed", unlucky)
    await notifier.publish("appointment.confirmed", lucky)

    [row] = await notifier.settled(event.id)
    assert (row["status"], row["attempts"], row["last_response_code"]) == ("sent", 4, 250)
    [mail] = notifier.sink.to(unlucky["client_email"])
    # Every attempt was the same message: the refused ones carried the Message-ID that finally went through.
    assert refused_ids(notifier, unlucky["client_email"]) == [mail.message_id] * 3
    # The other client's email did not wait for the retries.
    order = [item.recipients[0] for item in notifier.sink.handler.received]
    assert order.index(lucky["client_email"].lower()) < order.index(unlucky["client_email"].lower())
    # Retries were spaced by the growing backoff (0.2 s, 0.4 s, 0.8 s at least).
    assert (row["sent_at"] - row["created_at"]).total_seconds() >= 0.2 + 0.4 + 0.8


async def test_permanent_refusal_fails_without_retrying(notifier):
    payload = notifier.appointment()
    notifier.sink.refuse(payload["client_email"], 1, "550 5.1.1 no such mailbox")

    event = await notifier.publish("appointment.confirmed", payload)

    [row] = await notifier.settled(event.id)
    assert (row["status"], row["attempts"], row["last_response_code"]) == ("failed", 1, 550)
    assert "no such mailbox" in row["last_error"]
    assert notifier.sink.to(payload["client_email"]) == []


async def test_transient_failures_give_up_after_the_last_attempt(notifier):
    payload = notifier.appointment()
    notifier.sink.refuse(payload["client_email"], 100)

    event = await notifier.publish("appointment.confirmed", payload)

    [row] = await notifier.settled(event.id)
    assert (row["status"], row["attempts"]) == ("failed", notifier.settings.email_max_attempts)
    assert len(refused_ids(notifier, payload["client_email"])) == notifier.settings.email_max_attempts
    notifier.sink.refuse(payload["client_email"], 0)


async def test_a_transaction_refused_before_data_is_retried(notifier):
    """The server stalls at MAIL FROM and then refuses: nothing was accepted, so the retry sends the one email."""
    payload = notifier.appointment()
    held_before = notifier.sink.handler.held
    notifier.sink.hold()
    try:
        event = await notifier.publish("appointment.confirmed", payload)

        async def held() -> bool:
            return notifier.sink.handler.held > held_before

        await wait_for(held, 15, what="the first attempt to reach the server")
    finally:
        notifier.sink.release()

    [row] = await notifier.settled(event.id)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert len(notifier.sink.to(payload["client_email"])) == 1
