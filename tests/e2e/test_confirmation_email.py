"""A booking made through the gateway reaches the client as an email with a calendar invite, in the provider's
time zone, exactly once (real SMTP sink, real broker, real database)."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import icalendar
import pytest

from smartslot_common.api_client import ApiClient
from smartslot_common.testing import wait_for

from .builders import on_the_hour, person, practice, slot
from .conftest import RunningStack

pytestmark = pytest.mark.e2e


def _messages_for(mail_dir: Path, appointment_id: str) -> list[email.message.EmailMessage]:
    messages = [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(mail_dir.glob("*.eml"))
    ]
    return [message for message in messages if message["X-SmartSlot-Appointment-Id"] == appointment_id]


async def test_an_instant_booking_is_emailed_once_with_an_invite_in_the_providers_zone(
    api: ApiClient, admin_token: str, running_stack: RunningStack, db: asyncpg.Connection
):
    if running_stack.mail_dir is None:
        pytest.skip("the stack under test was started elsewhere; its mail is not visible to this test")
    where = await practice(api, admin_token, timezone="America/New_York")
    client = await person(api, admin_token, name="Grace Hopper")
    starts_at = on_the_hour(days=3)
    booked = await api.call("POST", "/v1/appointments", client.token, {"slot_id": await slot(
        api, admin_token, where, starts_at)})
    assert booked.status == 201, booked.body
    appointment_id = booked.body["id"]

    async def delivered() -> list:
        return _messages_for(running_stack.mail_dir, appointment_id)

    [message] = await wait_for(delivered, 20, what="the confirmation email")

    assert message["To"].addresses[0].addr_spec == client.email
    assert message["To"].addresses[0].display_name == "Grace Hopper"
    local = starts_at.astimezone(ZoneInfo("America/New_York"))
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert local.strftime("%H:%M") in text
    assert "America/New_York" in text
    [invite] = [part for part in message.walk() if part.get_content_type() == "text/calendar"]
    calendar = icalendar.Calendar.from_ical(invite.get_payload(decode=True))
    [event] = calendar.walk("VEVENT")
    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == f"{appointment_id}@smartslot"
    assert event["DTSTART"].dt == starts_at
    assert event["DTEND"].dt - event["DTSTART"].dt == timedelta(minutes=30)

    async def marked() -> list | None:  # a sent email is marked within moments (marks wait a little for others)
        emails = await db.fetch(
            "SELECT status, attempts FROM notifier.deliveries WHERE appointment_id = $1::uuid AND channel = 'email'",
            appointment_id,
        )
        found = [(row["status"], row["attempts"]) for row in emails]
        return found if found != [("pending", 1)] else None

    assert await wait_for(marked, 10, what="the email marked sent") == [("sent", 1)]  # one, sent on the first try
    assert len(await delivered()) == 1
