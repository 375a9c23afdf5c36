"""A claim writes its seat, appointment, audit rows and event in one statement, or nothing at all.

The statement's compare-and-set on the slot's version is what makes it safe without an explicit transaction: a slot
changed since it was read gets nothing written, and the request takes the transactional path instead.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import orjson

from booking.adapters.appointments import PostgresAppointmentRepository
from booking.adapters.slots import PostgresSlotRepository, SlotToClaim
from booking.domain.appointment import NewAppointment
from booking.domain.events import appointment_payload
from smartslot_common.messaging import Event

from .test_holds import written_for


def _values(found: SlotToClaim, client_id: uuid.UUID) -> dict[str, Any]:
    assert found.slot is not None
    slot = found.slot
    return {
        "id": uuid.uuid4(), "slot_id": slot.id, "provider_id": slot.provider_id, "service_id": slot.service_id,
        "client_id": client_id, "status": "locked", "starts_at": slot.starts_at, "ends_at": slot.ends_at,
        "hold_expires_at": found.now + timedelta(minutes=5), "origin": "client", "assignment": "chosen",
        "assignment_reason": None, "lock_token": None, "client_email": None, "client_name": None,
        "currency": found.context.currency,
    }


async def test_a_slot_changed_since_it_was_read_gets_nothing_written(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    slot = await api.slot(catalog, api.future(days=2), capacity=2)
    slots = PostgresSlotRepository(db)
    found = await slots.to_claim(uuid.UUID(slot["id"]))
    assert found.slot is not None
    assert (await api.hold(slot["id"], api.client())).status == 201  # moves the slot's version on
    before = await written_for(db, slot["id"])
    values = _values(found, uuid.uuid4())
    event = Event.create("appointment.locked", appointment_payload(values, found.context.as_mapping()), "booking")

    written = await slots.claim_with_appointment(
        found.slot, "held", NewAppointment(**values), [(None, "locked")], (values["client_id"], "client", None), event)

    assert written is None
    assert await written_for(db, slot["id"]) == before
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE id = $1", event.id) == 0


async def test_an_instant_booking_writes_both_audit_rows_in_order_and_its_event(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    slot = await api.slot(catalog, api.future(days=2))
    client = api.client()
    reply = await api.call("POST", "/v1/appointments", client, {"slot_id": slot["id"]})
    assert reply.status == 201, reply.body
    appointment_id = uuid.UUID(reply.body["id"])

    steps = await db.fetch("SELECT from_status, to_status, actor_id, actor_role, reason FROM appointment_transitions"
                           " WHERE appointment_id = $1 ORDER BY id", appointment_id)
    assert [(row["from_status"], row["to_status"]) for row in steps] == [(None, "locked"), ("locked", "confirmed")]
    assert {(row["actor_id"], row["actor_role"], row["reason"]) for row in steps} == {
        (client.user_id, "client", "instant booking")}
    envelope = orjson.loads(await db.fetchval(
        "SELECT envelope::text FROM outbox WHERE event_type = 'appointment.confirmed'"
        " AND envelope->'payload'->>'appointment_id' = $1", str(appointment_id)))
    assert envelope["payload"]["status"] == "confirmed"
    assert envelope["payload"]["hold_expires_at"] is None
    assert envelope["payload"]["timezone"] == catalog.zone
    counters = await db.fetchrow("SELECT held, booked, version FROM slots WHERE id = $1", uuid.UUID(slot["id"]))
    assert tuple(counters) == (0, 1, 2)


async def test_a_missing_slot_is_read_as_none_with_the_database_clock(db: asyncpg.Connection) -> None:
    found = await PostgresSlotRepository(db).to_claim(uuid.uuid4())
    assert found.slot is None
    assert found.now is not None


async def test_a_confirmation_converts_the_seat_and_writes_its_audit_row_and_event_together(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    slot = await api.slot(catalog, api.future(days=2))
    client = api.client()
    hold = await api.hold(slot["id"], client)
    assert hold.status == 201, hold.body
    reply = await api.call("POST", f"/v1/appointments/{hold.body['id']}/confirm", client)
    assert reply.status == 200, reply.body
    appointment_id = uuid.UUID(hold.body["id"])

    stored = await db.fetchrow("SELECT status, lock_token, hold_expires_at FROM appointments WHERE id = $1",
                               appointment_id)
    assert tuple(stored) == ("confirmed", None, None)
    counters = await db.fetchrow("SELECT held, booked FROM slots WHERE id = $1", uuid.UUID(slot["id"]))
    assert tuple(counters) == (0, 1)
    steps = await db.fetch("SELECT from_status, to_status, actor_id, actor_role FROM appointment_transitions"
                           " WHERE appointment_id = $1 ORDER BY id", appointment_id)
    assert [tuple(step) for step in steps] == [
        (None, "locked", client.user_id, "client"), ("locked", "confirmed", client.user_id, "client")]
    envelope = orjson.loads(await db.fetchval(
        "SELECT envelope::text FROM outbox WHERE event_type = 'appointment.confirmed'"
        " AND envelope->'payload'->>'appointment_id' = $1", str(appointment_id)))
    assert (envelope["payload"]["status"], envelope["payload"]["hold_expires_at"]) == ("confirmed", None)
    assert envelope["payload"]["provider_name"]
    assert envelope["payload"]["timezone"] == catalog.zone


async def test_a_hold_changed_since_it_was_read_is_not_confirmed_by_the_one_statement(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    slot = await api.slot(catalog, api.future(days=2))
    client = api.client()
    hold = await api.hold(slot["id"], client)
    assert hold.status == 201, hold.body
    appointments = PostgresAppointmentRepository(db)
    found = await appointments.to_act_on(uuid.UUID(hold.body["id"]))
    assert found is not None
    hold_read = found.appointment
    await db.execute("UPDATE appointments SET version = version + 1 WHERE id = $1", hold_read.id)
    event = Event.create("appointment.confirmed", appointment_payload(hold_read.as_row(), found.context.as_mapping()),
                         "booking")

    written = await appointments.confirm_hold(hold_read, "confirmed", (client.user_id, "client"), event)

    assert written is None
    assert await db.fetchval("SELECT status FROM appointments WHERE id = $1", hold_read.id) == "locked"
    assert tuple(await db.fetchrow("SELECT held, booked FROM slots WHERE id = $1", hold_read.slot_id)) == (1, 0)
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE id = $1", event.id) == 0
    assert await db.fetchval("SELECT count(*) FROM appointment_transitions WHERE appointment_id = $1",
                             hold_read.id) == 1
