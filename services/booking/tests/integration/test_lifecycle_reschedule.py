"""Rescheduling on the real database and Redis: the same appointment moves to another slot in one transaction (new
seat taken by compare-and-set, old seat given back), or nothing moves at all."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest
from icalendar import Calendar

from smartslot_common.testing import wait_for

pytestmark = pytest.mark.integration


def interval(row: dict[str, Any]) -> tuple[datetime, datetime]:
    """Start and end as instants (the slot and appointment bodies spell UTC differently)."""
    return datetime.fromisoformat(row["starts_at"]), datetime.fromisoformat(row["ends_at"])


async def seats(db: asyncpg.Connection, slot_id: object) -> tuple[int, int]:
    row = await db.fetchrow("SELECT held, booked FROM slots WHERE id = $1", uuid.UUID(str(slot_id)))
    return row["held"], row["booked"]


async def snapshot(db: asyncpg.Connection, appointment_id: object, *slot_ids: object) -> tuple[Any, ...]:
    """Everything a refused move must leave untouched."""
    appointment = await db.fetchrow(
        "SELECT slot_id, starts_at, version, ics_sequence, lock_token FROM appointments WHERE id = $1",
        uuid.UUID(str(appointment_id)),
    )
    events = await db.fetchval("SELECT count(*) FROM outbox")
    return tuple(appointment), events, [await seats(db, slot_id) for slot_id in slot_ids]


async def reschedule(api: Any, appointment_id: object, slot_id: object, who: Any) -> Any:
    return await api.call("POST", f"/v1/appointments/{appointment_id}/reschedule", who, {"slot_id": str(slot_id)})


async def sequence(api: Any, appointment_id: object, who: Any) -> int:
    reply = await api.call("GET", f"/v1/appointments/{appointment_id}/calendar.ics", who)
    assert reply.status == 200, reply.body
    return int(Calendar.from_ical(reply.body).walk("VEVENT")[0]["SEQUENCE"])


async def hold(api: Any, slot_id: object, who: Any) -> dict[str, Any]:
    reply = await api.hold(slot_id, who)
    assert reply.status == 201, reply.body
    return reply.body


async def book(api: Any, slot_id: object, who: Any) -> dict[str, Any]:
    held = await hold(api, slot_id, who)
    reply = await api.call("POST", f"/v1/appointments/{held['id']}/confirm", who)
    assert reply.status == 200, reply.body
    return reply.body


async def test_a_confirmed_appointment_moves_its_booked_seat_atomically(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    client = api.client()
    old, new = await api.slot(catalog, api.future(days=3)), await api.slot(catalog, api.future(days=4))
    appointment = await book(api, old["id"], client)
    assert await sequence(api, appointment["id"], client) == 0

    reply = await reschedule(api, appointment["id"], new["id"], client)

    assert reply.status == 200, reply.body
    moved = reply.body
    assert (moved["id"], moved["status"], moved["slot_id"]) == (appointment["id"], "confirmed", new["id"])
    assert interval(moved) == interval(new)
    assert (moved["provider_id"], moved["service_id"]) == (catalog.provider_id, catalog.service_id)
    assert await seats(db, old["id"]) == (0, 0)
    assert await seats(db, new["id"]) == (0, 1)
    assert await sequence(api, appointment["id"], client) == 1
    assert await db.fetchval("SELECT count(*) FROM appointments WHERE client_id = $1", client.user_id) == 1


async def test_a_reschedule_writes_its_events_and_an_audit_row(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    client = api.client()
    old, new = await api.slot(catalog, api.future(days=3)), await api.slot(catalog, api.future(days=5))
    appointment = await book(api, old["id"], client)

    assert (await reschedule(api, appointment["id"], new["id"], client)).status == 200

    rows = await db.fetch(
        "SELECT event_type, envelope->'payload' AS payload FROM outbox "
        "WHERE envelope->'payload'->>'appointment_id' = $1 ORDER BY created_at, seq",
        appointment["id"],
    )
    events = {row["event_type"]: orjson.loads(row["payload"]) for row in rows}
    assert list(events) == ["appointment.locked", "appointment.confirmed", "appointment.rescheduled", "slot.released"]
    assert events["appointment.rescheduled"]["slot_id"] == new["id"]
    assert events["appointment.rescheduled"]["previous"]["slot_id"] == old["id"]
    assert events["appointment.rescheduled"]["ics_sequence"] == 1
    assert (events["slot.released"]["slot_id"], events["slot.released"]["released_by"]) == (old["id"], "client")
    audit = await db.fetchrow(
        "SELECT from_status, to_status, actor_id, actor_role, reason FROM appointment_transitions "
        "WHERE appointment_id = $1 ORDER BY id DESC LIMIT 1",
        uuid.UUID(appointment["id"]),
    )
    assert tuple(audit)[:4] == ("confirmed", "confirmed", client.user_id, "client")
    assert old["id"] in audit["reason"]


async def test_a_hold_moves_as_a_hold_and_keeps_its_deadline(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    client = api.client()
    old, new = await api.slot(catalog, api.future(days=3)), await api.slot(catalog, api.future(days=6))
    held = await hold(api, old["id"], client)

    reply = await reschedule(api, held["id"], new["id"], client)

    assert reply.status == 200, reply.body
    assert (reply.body["status"], reply.body["slot_id"]) == ("locked", new["id"])
    assert reply.body["hold_expires_at"] == held["hold_expires_at"]
    assert await seats(db, old["id"]) == (0, 0)
    assert await seats(db, new["id"]) == (1, 0)
    assert (await api.hold(old["id"], api.client())).status == 201  # the old slot's lock went with the move
    assert (await api.hold(new["id"], api.client())).code == "slot_held"  # the hold keeps the new one's
    confirmed = await api.call("POST", f"/v1/appointments/{held['id']}/confirm", client)
    assert (confirmed.status, confirmed.body["slot_id"]) == (200, new["id"])
    assert await seats(db, new["id"]) == (0, 1)


async def past_slot(db: asyncpg.Connection, catalog: Any) -> uuid.UUID:
    """A slot that has already started: the API refuses to make one, so it goes straight into the table."""
    slot_id, starts = uuid.uuid4(), datetime.now(UTC) - timedelta(hours=2)
    await db.execute(
        "INSERT INTO slots (id, provider_id, service_id, starts_at, ends_at) VALUES ($1, $2, $3, $4, $5)",
        slot_id, uuid.UUID(catalog.provider_id), uuid.UUID(catalog.service_id), starts, starts + catalog.duration,
    )
    return slot_id


@pytest.mark.parametrize(
    ("target", "status", "code"),
    [
        ("missing", 404, "slot_not_found"),
        ("booked-by-another", 409, "slot_unavailable"),
        ("held-by-another", 409, "slot_held"),
        ("another-service", 409, "slot_unavailable"),
        ("in-the-past", 409, "slot_in_past"),
        ("the-same", 409, "slot_unavailable"),
        ("kept-for-the-waitlist", 409, "slot_unavailable"),
    ],
)
async def test_a_refused_move_changes_nothing(
    api: Any, catalog: Any, db: asyncpg.Connection, target: str, status: int, code: str
) -> None:
    client = api.client()
    current = await api.slot(catalog, api.future(days=3))
    appointment = await book(api, current["id"], client)
    if target == "missing":
        slot_id: object = uuid.uuid4()
    elif target == "booked-by-another":
        slot_id = (await api.slot(catalog, api.future(days=8)))["id"]
        await book(api, slot_id, api.client())
    elif target == "held-by-another":
        slot_id = (await api.slot(catalog, api.future(days=8)))["id"]
        await hold(api, slot_id, api.client())
    elif target == "another-service":
        slot_id = (await api.slot(await api.catalog(), api.future(days=8)))["id"]
    elif target == "in-the-past":
        slot_id = await past_slot(db, catalog)
    elif target == "kept-for-the-waitlist":  # freed by a provider: the waitlist has first call on it for a while
        slot_id = (await api.slot(catalog, api.future(days=8)))["id"]
        await db.execute("UPDATE slots SET reserved_until = clock_timestamp() + interval '10 minutes' WHERE id = $1",
                         uuid.UUID(slot_id))
    else:
        slot_id = current["id"]
    before = await snapshot(db, appointment["id"], current["id"])

    reply = await reschedule(api, appointment["id"], slot_id, client)

    assert (reply.status, reply.code) == (status, code), reply.body
    assert await snapshot(db, appointment["id"], current["id"]) == before


@pytest.mark.parametrize("role", ["other-client", "its-provider", "admin"])
async def test_only_its_client_may_reschedule(api: Any, catalog: Any, db: asyncpg.Connection, role: str) -> None:
    current, other = await api.slot(catalog, api.future(days=3)), await api.slot(catalog, api.future(days=9))
    appointment = await book(api, current["id"], api.client())
    caller = {"other-client": api.client(), "its-provider": api.who("provider", catalog.provider_user),
              "admin": api.admin()}[role]
    before = await snapshot(db, appointment["id"], current["id"], other["id"])

    reply = await reschedule(api, appointment["id"], other["id"], caller)

    assert (reply.status, reply.code) == (404, "not_found")
    assert await snapshot(db, appointment["id"], current["id"], other["id"]) == before


async def test_a_cancelled_appointment_cannot_move(api: Any, catalog: Any, db: asyncpg.Connection) -> None:
    client = api.client()
    current, other = await api.slot(catalog, api.future(days=3)), await api.slot(catalog, api.future(days=10))
    appointment = await book(api, current["id"], client)
    assert (await api.call("POST", f"/v1/appointments/{appointment['id']}/cancel", client)).status == 200

    reply = await reschedule(api, appointment["id"], other["id"], client)

    assert (reply.status, reply.code) == (409, "invalid_transition")
    assert await seats(db, other["id"]) == (0, 0)


async def test_a_started_appointment_cannot_move(api: Any, catalog: Any, db: asyncpg.Connection) -> None:
    client = api.client()
    current, other = await api.slot(catalog, api.future(days=3)), await api.slot(catalog, api.future(days=11))
    appointment = await book(api, current["id"], client)
    await db.execute(
        "UPDATE appointments SET starts_at = now() - interval '5 minutes', ends_at = now() + interval '25 minutes' "
        "WHERE id = $1", uuid.UUID(appointment["id"]),
    )

    reply = await reschedule(api, appointment["id"], other["id"], client)

    assert (reply.status, reply.code) == (409, "invalid_transition")
    assert await seats(db, other["id"]) == (0, 0)


async def test_a_hold_past_its_deadline_cannot_move_and_is_expired(
    extra_booking: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    short = await extra_booking(hold_ttl_seconds=2)
    client = short.client()
    current, other = await short.slot(catalog, short.future(days=3)), await short.slot(catalog, short.future(days=12))
    held = await hold(short, current["id"], client)
    deadline = await db.fetchval("SELECT hold_expires_at FROM appointments WHERE id = $1", uuid.UUID(held["id"]))
    await wait_for(lambda: db.fetchval("SELECT clock_timestamp() > $1", deadline), what="the hold deadline")

    reply = await reschedule(short, held["id"], other["id"], client)

    assert (reply.status, reply.code) == (410, "hold_expired")
    assert await db.fetchval("SELECT status FROM appointments WHERE id = $1", uuid.UUID(held["id"])) == "expired"
    assert await seats(db, current["id"]) == (0, 0)
    assert await seats(db, other["id"]) == (0, 0)
    assert (await short.hold(other["id"], short.client())).status == 201  # the move's lock on it was let go
