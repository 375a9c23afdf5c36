"""Completing on the real database: only a confirmed appointment, only once it has started (database clock), only by
its provider or an admin."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from .started_appointments import book, events_of, started

pytestmark = pytest.mark.integration


async def complete(api: Any, appointment_id: object, who: Any) -> Any:
    return await api.call("POST", f"/v1/appointments/{appointment_id}/complete", who)


async def test_completing_before_the_start_is_409_and_writes_nothing(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    appointment = await book(api, catalog, api.client())
    provider = api.who("provider", catalog.provider_user)

    reply = await complete(api, appointment["id"], provider)

    assert (reply.status, reply.code) == (409, "invalid_transition")
    assert "not started" in reply.body["detail"]
    assert await events_of(db, appointment["id"]) == ["appointment.locked", "appointment.confirmed"]


@pytest.mark.parametrize("role", ["its-provider", "admin"])
async def test_after_the_start_its_provider_or_an_admin_completes_it(
    api: Any, catalog: Any, db: asyncpg.Connection, role: str
) -> None:
    appointment = await book(api, catalog, api.client())
    await started(db, appointment["id"])
    who = api.who("provider", catalog.provider_user) if role == "its-provider" else api.admin()

    reply = await complete(api, appointment["id"], who)

    assert reply.status == 200, reply.body
    assert reply.body["status"] == "completed"
    assert await events_of(db, appointment["id"]) == [
        "appointment.locked", "appointment.confirmed", "appointment.completed"]
    stored = await db.fetchrow(
        "SELECT completed_at, (SELECT actor_id FROM appointment_transitions WHERE appointment_id = a.id "
        "AND to_status = 'completed') AS actor FROM appointments a WHERE id = $1",
        uuid.UUID(appointment["id"]),
    )
    assert stored["completed_at"] is not None
    assert stored["actor"] == who.user_id
    again = await complete(api, appointment["id"], who)
    assert (again.status, again.code) == (409, "invalid_transition")


async def test_a_hold_cannot_be_completed(api: Any, catalog: Any, db: asyncpg.Connection) -> None:
    slot = await api.slot(catalog, api.future(days=2))
    held = (await api.hold(slot["id"], api.client())).body
    await started(db, held["id"])

    reply = await complete(api, held["id"], api.admin())

    assert (reply.status, reply.code) == (409, "invalid_transition")
    assert "locked" in reply.body["detail"]


@pytest.mark.parametrize("role", ["its-client", "other-provider"])
async def test_others_may_not_complete_it(api: Any, catalog: Any, db: asyncpg.Connection, role: str) -> None:
    client = api.client()
    appointment = await book(api, catalog, client)
    await started(db, appointment["id"])
    other = await api.catalog()
    who = client if role == "its-client" else api.who("provider", other.provider_user)

    reply = await complete(api, appointment["id"], who)

    assert (reply.status, reply.code) == (404, "not_found")
    assert await db.fetchval("SELECT status FROM appointments WHERE id = $1", uuid.UUID(appointment["id"])) == (
        "confirmed")


async def test_an_idempotent_complete_replays_the_first_answer(api: Any, catalog: Any, db: asyncpg.Connection) -> None:
    appointment = await book(api, catalog, api.client())
    await started(db, appointment["id"])
    provider = api.who("provider", catalog.provider_user)
    headers = provider.headers | {"Idempotency-Key": "complete-" + appointment["id"]}
    answers = []
    for _ in range(2):
        async with api.http.post(f"/v1/appointments/{appointment['id']}/complete", headers=headers) as response:
            answers.append((response.status, await response.json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 200
