"""Completing on the real database: only a confirmed appointment, only once it has started (database clock), only by
its provider or an admin."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from booking.domain.errors import InvalidTransition, NotFound
from booking.service_layer import lifecycle
from smartslot_common.http.identity import Caller
from smartslot_common.testing import IsolatedStack

pytestmark = pytest.mark.integration


async def book(api: Any, catalog: Any, who: Any, days: int = 2) -> dict[str, Any]:
    slot = await api.slot(catalog, api.future(days=days))
    held = await api.hold(slot["id"], who)
    assert held.status == 201, held.body
    reply = await api.call("POST", f"/v1/appointments/{held.body['id']}/confirm", who)
    assert reply.status == 200, reply.body
    return reply.body


async def started(db: asyncpg.Connection, appointment_id: object) -> None:
    """Move the appointment's start into the past (the API never makes a slot that has begun)."""
    await db.execute(
        "UPDATE appointments SET starts_at = clock_timestamp() - interval '10 minutes', "
        "ends_at = clock_timestamp() + interval '20 minutes' WHERE id = $1",
        uuid.UUID(str(appointment_id)),
    )


async def complete(api: Any, appointment_id: object, who: Any) -> Any:
    return await api.call("POST", f"/v1/appointments/{appointment_id}/complete", who)


async def events_of(db: asyncpg.Connection, appointment_id: object) -> list[str]:
    rows = await db.fetch(
        "SELECT event_type FROM outbox WHERE envelope->'payload'->>'appointment_id' = $1 ORDER BY created_at, seq",
        str(appointment_id),
    )
    return [row["event_type"] for row in rows]


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


async def test_no_show_is_recorded_only_after_the_start(
    api: Any, catalog: Any, db: asyncpg.Connection, stack: IsolatedStack
) -> None:
    """No public route (API.md has none): the use case itself, on this run's database."""
    appointment = await book(api, catalog, api.client())
    provider = Caller(catalog.provider_user, "provider")
    pool = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=2,
                                     server_settings={"search_path": "booking"})
    try:
        with pytest.raises(InvalidTransition, match="not started"):
            await lifecycle.mark_no_show(pool, uuid.UUID(appointment["id"]), provider)
        await started(db, appointment["id"])
        row = await lifecycle.mark_no_show(pool, uuid.UUID(appointment["id"]), provider, "did not come")
        with pytest.raises(NotFound):
            await lifecycle.mark_no_show(pool, uuid.UUID(appointment["id"]), Caller(uuid.uuid4(), "provider"))
    finally:
        await pool.close()
    assert row["status"] == "no_show"
    assert await db.fetchval(
        "SELECT reason FROM appointment_transitions WHERE appointment_id = $1 AND to_status = 'no_show'",
        uuid.UUID(appointment["id"]),
    ) == "did not come"
