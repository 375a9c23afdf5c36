"""An event's email is written already claimed by the process that applies the event and sent right after the
commit, without a claim statement; one whose writer never sends it (a crash after the commit) is claimed by the
worker once its lease ends, and sent once."""

from __future__ import annotations

import uuid

import pytest

from notifier.adapters import deliveries, event_rows
from notifier.adapters.event_rows import EventRows, QueuedEmail
from notifier.domain.emails import Email

from .conftest import address

pytestmark = pytest.mark.integration


async def test_an_events_email_is_sent_without_being_claimed(notifier, monkeypatch):
    claimed: list[uuid.UUID] = []
    claim_due = deliveries.claim_due

    async def recorded(*args, **kwargs):
        found = await claim_due(*args, **kwargs)
        claimed.extend(item.id for item in found)
        return found

    monkeypatch.setattr(deliveries, "claim_due", recorded)
    payload = notifier.appointment()

    event = await notifier.publish("appointment.confirmed", payload)

    [mail] = await notifier.mail_to(payload["client_email"])
    [row] = await notifier.settled(event.id)
    assert (row["status"], row["attempts"], row["message_id"]) == ("sent", 1, mail.message_id)
    assert row["id"] not in claimed


async def test_an_email_written_claimed_but_never_sent_is_claimed_when_its_lease_ends(notifier):
    recipient, source = address(), uuid.uuid4()
    email = Email("confirmation", recipient, "Ada", "Your appointment", "text", "<p>html</p>", None, None, None)
    async with notifier.db.acquire() as connection, connection.transaction():
        written = await event_rows.write(connection, EventRows(source, email=QueuedEmail(email, "test", 3, 0.5)))
    assert written.leased is not None  # handed to nobody: as if the process had died after the commit

    [mail] = await notifier.mail_to(recipient)

    [row] = await notifier.settled(source)
    assert (row["status"], row["attempts"], row["message_id"]) == ("sent", 2, mail.message_id)
    assert len(notifier.sink.to(recipient)) == 1


async def test_emails_sent_together_are_marked_sent_together(notifier, monkeypatch):
    """The sent marks of emails finished within a moment of each other go in one statement, not one each."""
    statements: list[list[uuid.UUID]] = []
    mark_sent_many = deliveries.mark_sent_many

    async def recorded(pool, delivery_ids, codes):
        statements.append(list(delivery_ids))
        await mark_sent_many(pool, delivery_ids, codes)

    monkeypatch.setattr(deliveries, "mark_sent_many", recorded)
    payloads = [notifier.appointment() for _ in range(8)]
    events = [await notifier.publish("appointment.confirmed", payload) for payload in payloads]

    ours = set()
    for event in events:
        [row] = await notifier.settled(event.id)
        assert row["status"] == "sent"
        ours.add(row["id"])
    marked = [delivery_id for statement in statements for delivery_id in statement if delivery_id in ours]
    assert sorted(marked) == sorted(ours), "each marked once"
    assert len([statement for statement in statements if ours & set(statement)]) < len(events), statements
