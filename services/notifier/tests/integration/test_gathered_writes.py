"""A batch's events leave their rows in one round trip: the handlers gather each event's statement and the batch's
end sends them together; a handler that reads what the earlier ones wrote (a cancellation weighing the appointment's
version) has them sent first. Run on the real database, one batch's handlers in one transaction, as the consumer's
inbox transaction runs them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notifier.adapters import event_rows
from notifier.app_keys import WORKER
from notifier.service_layer.events import EventHandlers
from smartslot_common.messaging import Event

pytestmark = pytest.mark.integration


async def run_batch(notifier: Any, events: list[Event], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Apply `events` as one batch in one transaction, run what must happen after the commit; the sizes of the
    round trips that wrote their rows."""
    sizes: list[int] = []
    write_many = event_rows.write_many

    async def counted(connection: Any, many: Any) -> Any:
        sizes.append(len(many))
        return await write_many(connection, many)

    monkeypatch.setattr(event_rows, "write_many", counted)
    handlers = EventHandlers(notifier.settings, notifier.app[WORKER]).mapping()
    async with notifier.db.acquire() as connection, connection.transaction():
        for event in events:
            await handlers[event.type](connection, event)
        actions = await handlers.flush(connection)
    for action in actions:
        await action()
    return sizes


def confirmed(notifier: Any) -> Event:
    starts_at = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)  # its reminders still ahead
    return Event.create("appointment.confirmed", notifier.appointment(starts_at=starts_at), producer="tests")


async def test_a_batchs_confirmations_are_written_in_one_round_trip_and_each_emailed(notifier, monkeypatch):
    events = [confirmed(notifier) for _ in range(3)]

    assert await run_batch(notifier, events, monkeypatch) == [3]

    for event in events:
        [mail] = await notifier.mail_to(event.payload["client_email"])
        assert mail.message["Subject"].startswith("Confirmed: ")
        [delivery] = await notifier.settled(event.id)
        assert delivery["status"] == "sent"
        assert await notifier.db.fetchval(
            "SELECT count(*) FROM reminders WHERE appointment_id = $1::uuid", event.payload["appointment_id"]) > 0


async def test_a_cancellation_in_the_same_batch_sees_the_confirmation_written_before_it(notifier, monkeypatch):
    """Were the confirmation's rows still waiting when the cancellation weighs the appointment's version, it would
    read no confirmed version and send no withdrawal of the invitation."""
    booked = confirmed(notifier)
    cancelled = Event.create("appointment.cancelled", booked.payload | {
        "status": "cancelled", "ics_sequence": 1, "cancelled_by": "client", "fee_cents": 0, "currency": "EUR",
    }, producer="tests")
    other = confirmed(notifier)

    assert await run_batch(notifier, [booked, cancelled, other], monkeypatch) == [1, 2]

    mails = await notifier.mail_to(booked.payload["client_email"], 2)
    assert sorted(mail.message["Subject"].split(":")[0] for mail in mails) == ["Cancelled", "Confirmed"]
    assert await notifier.db.fetchval(
        "SELECT status FROM appointment_versions WHERE appointment_id = $1::uuid",
        booked.payload["appointment_id"]) == "cancelled"
    assert await notifier.db.fetchval(
        "SELECT count(*) FROM reminders WHERE appointment_id = $1::uuid AND status = 'scheduled'",
        booked.payload["appointment_id"]) == 0
    await notifier.mail_to(other.payload["client_email"])


async def test_a_failed_batchs_gathered_rows_are_forgotten(notifier, monkeypatch):
    handlers = EventHandlers(notifier.settings, notifier.app[WORKER]).mapping()
    lost = confirmed(notifier)
    async with notifier.db.acquire() as connection:
        transaction = connection.transaction()
        await transaction.start()
        await handlers[lost.type](connection, lost)
        await transaction.rollback()  # the batch failed: as the applier does, it forgets what was gathered
        handlers.discard(connection)
        kept = confirmed(notifier)
        async with connection.transaction():
            await handlers[kept.type](connection, kept)
            await handlers.flush(connection)

    assert await notifier.db.fetchval("SELECT count(*) FROM deliveries WHERE source_id = $1", lost.id) == 0
    assert await notifier.db.fetchval("SELECT count(*) FROM deliveries WHERE source_id = $1", kept.id) == 1
