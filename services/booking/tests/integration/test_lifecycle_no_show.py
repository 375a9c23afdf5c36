"""Marking a no-show on the real database: only a confirmed appointment, only once it has started (database clock),
only by its provider or an admin; `appointment.no_show` goes to the outbox with the change, and the seat stays taken."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import orjson
import pytest

from booking import invariants
from smartslot_common.contracts.payloads import AppointmentPayload

from .started_appointments import book, events_of, started

pytestmark = pytest.mark.integration
BOOKED = ["appointment.locked", "appointment.confirmed"]


async def no_show(api: Any, appointment_id: object, who: Any) -> Any:
    return await api.call("POST", f"/v1/appointments/{appointment_id}/no-show", who)


async def status_of(db: asyncpg.Connection, appointment_id: str) -> str:
    return await db.fetchval("SELECT status FROM appointments WHERE id = $1", uuid.UUID(appointment_id))


async def test_before_the_start_it_is_409_and_writes_nothing(api: Any, catalog: Any, db: asyncpg.Connection) -> None:
    appointment = await book(api, catalog, api.client())

    reply = await no_show(api, appointment["id"], api.who("provider", catalog.provider_user))

    assert (reply.status, reply.code) == (409, "invalid_transition")
    assert reply.content_type == "application/problem+json"
    assert "not started" in reply.body["detail"]
    assert await status_of(db, appointment["id"]) == "confirmed"
    assert await events_of(db, appointment["id"]) == BOOKED


@pytest.mark.parametrize("role", ["its-provider", "admin"])
async def test_after_the_start_its_provider_or_an_admin_marks_it(
    api: Any, catalog: Any, db: asyncpg.Connection, role: str
) -> None:
    appointment = await book(api, catalog, api.client())
    await started(db, appointment["id"])
    who = api.who("provider", catalog.provider_user) if role == "its-provider" else api.admin()

    reply = await no_show(api, appointment["id"], who)

    assert reply.status == 200, reply.body
    assert (reply.body["id"], reply.body["status"]) == (appointment["id"], "no_show")
    assert await status_of(db, appointment["id"]) == "no_show"
    assert await events_of(db, appointment["id"]) == [*BOOKED, "appointment.no_show"]
    audit = await db.fetchrow(
        "SELECT from_status, actor_id, actor_role FROM appointment_transitions "
        "WHERE appointment_id = $1 AND to_status = 'no_show'", uuid.UUID(appointment["id"]))
    assert (audit["from_status"], audit["actor_id"], audit["actor_role"]) == ("confirmed", who.user_id, who.role)
    again = await no_show(api, appointment["id"], who)
    assert (again.status, again.code) == (409, "invalid_transition")


async def test_the_event_carries_the_appointment_as_consumers_parse_it(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    appointment = await book(api, catalog, api.client())
    await started(db, appointment["id"])

    assert (await no_show(api, appointment["id"], api.admin())).status == 200

    raw = await db.fetchval(
        "SELECT (envelope->'payload')::text FROM outbox "
        "WHERE event_type = 'appointment.no_show' AND envelope->'payload'->>'appointment_id' = $1", appointment["id"])
    payload = AppointmentPayload.model_validate(orjson.loads(raw))
    assert (payload.appointment_id, payload.status) == (uuid.UUID(appointment["id"]), "no_show")
    assert str(payload.client_id) == appointment["client_id"]
    assert payload.timezone == catalog.zone
    assert payload.provider_name
    assert payload.service_name


async def test_the_seat_stays_taken_and_the_counters_still_agree(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    appointment = await book(api, catalog, api.client())
    await started(db, appointment["id"])

    assert (await no_show(api, appointment["id"], api.admin())).status == 200

    booked = await db.fetchval("SELECT booked FROM slots WHERE id = $1", uuid.UUID(appointment["slot_id"]))
    assert booked == 1, "the time was lost, not freed: the slot is not offered again"
    assert (await invariants.check_double_booking(db))["counter_drift"] == 0


async def _locked(api: Any, catalog: Any, db: asyncpg.Connection) -> str:
    slot = await api.slot(catalog, api.future(days=2))
    held = await api.hold(slot["id"], api.client())
    assert held.status == 201, held.body
    return held.body["id"]


async def _cancelled(api: Any, catalog: Any, db: asyncpg.Connection) -> str:
    appointment = await book(api, catalog, api.client())
    cancelled = await api.call("POST", f"/v1/appointments/{appointment['id']}/cancel", api.admin())
    assert cancelled.status == 200, cancelled.body
    return appointment["id"]


async def _completed(api: Any, catalog: Any, db: asyncpg.Connection) -> str:
    appointment = await book(api, catalog, api.client())
    await started(db, appointment["id"])
    completed = await api.call("POST", f"/v1/appointments/{appointment['id']}/complete", api.admin())
    assert completed.status == 200, completed.body
    return appointment["id"]


@pytest.mark.parametrize(("status", "make"), [
    ("locked", _locked), ("cancelled", _cancelled), ("completed", _completed),
])
async def test_only_a_confirmed_appointment_can_be_marked(
    api: Any, catalog: Any, db: asyncpg.Connection, status: str, make: Any
) -> None:
    appointment_id = await make(api, catalog, db)
    await started(db, appointment_id)
    events_before = await events_of(db, appointment_id)

    reply = await no_show(api, appointment_id, api.admin())

    assert (reply.status, reply.code) == (409, "invalid_transition")
    assert status in reply.body["detail"]
    assert await status_of(db, appointment_id) == status
    assert await events_of(db, appointment_id) == events_before


@pytest.mark.parametrize("role", ["its-client", "other-provider"])
async def test_others_may_not_mark_it(api: Any, catalog: Any, db: asyncpg.Connection, role: str) -> None:
    client = api.client()
    appointment = await book(api, catalog, client)
    await started(db, appointment["id"])
    other = await api.catalog()
    who = client if role == "its-client" else api.who("provider", other.provider_user)

    reply = await no_show(api, appointment["id"], who)

    assert (reply.status, reply.code) == (404, "not_found")
    assert await status_of(db, appointment["id"]) == "confirmed"
    assert await events_of(db, appointment["id"]) == BOOKED


async def test_an_unknown_appointment_is_404(api: Any) -> None:
    reply = await no_show(api, uuid.uuid4(), api.admin())
    assert (reply.status, reply.code) == (404, "not_found")


async def test_an_idempotent_no_show_replays_the_first_answer_and_marks_once(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    appointment = await book(api, catalog, api.client())
    await started(db, appointment["id"])
    provider = api.who("provider", catalog.provider_user)
    headers = provider.headers | {"Idempotency-Key": "no-show-" + appointment["id"]}
    answers = []
    for _ in range(2):
        async with api.http.post(f"/v1/appointments/{appointment['id']}/no-show", headers=headers) as response:
            answers.append((response.status, await response.json(), response.headers.get("Idempotent-Replayed")))

    assert answers[0][:2] == answers[1][:2]
    assert answers[0][0] == 200
    assert (answers[0][2], answers[1][2]) == (None, "true")
    assert await events_of(db, appointment["id"]) == [*BOOKED, "appointment.no_show"]
