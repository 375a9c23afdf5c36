"""Deleting a slot: a future slot nobody holds or booked becomes `deleted` (the row stays); a live appointment on it
is a 409 naming it; a slot that has started stays as it is; unknown and already deleted slots are 404."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import orjson
import pytest

pytestmark = pytest.mark.integration


async def slot_row(db: asyncpg.Connection, slot_id: str) -> asyncpg.Record:
    return await db.fetchrow("SELECT status, version, held, booked FROM slots WHERE id = $1", uuid.UUID(slot_id))


async def test_a_free_slot_is_deleted_with_an_event_and_its_time_can_be_offered_again(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    starts = api.future(days=3)
    slot = await api.slot(catalog, starts)
    reply = await api.call("DELETE", f"/v1/slots/{slot['id']}", api.who("provider", catalog.provider_user))
    assert (reply.status, reply.body) == (204, "")
    row = await slot_row(db, slot["id"])
    assert (row["status"], row["version"]) == ("deleted", 2)
    [payload] = [orjson.loads(raw) for raw in await db.fetchval(
        "SELECT array_agg(envelope->'payload') FROM outbox"
        " WHERE event_type = 'slot.blocked' AND envelope->'payload'->>'slot_id' = $1", slot["id"])]
    assert (payload["reason"], payload["provider_id"]) == ("deleted", catalog.provider_id)

    assert (await api.call("DELETE", f"/v1/slots/{slot['id']}", api.admin())).status == 404
    reply = await api.hold(slot["id"], api.client())
    assert (reply.status, reply.code) == (409, "slot_unavailable")
    again = await api.slot(catalog, starts)
    assert again["id"] != slot["id"]


async def test_a_slot_with_a_live_hold_is_409_until_the_hold_is_gone(
    api: Any, catalog: Any, db: asyncpg.Connection
) -> None:
    slot = await api.slot(catalog, api.future(days=3), capacity=2)
    who = api.client()
    held = await api.hold(slot["id"], who)
    assert held.status == 201
    before = await slot_row(db, slot["id"])
    reply = await api.call("DELETE", f"/v1/slots/{slot['id']}", api.admin())
    assert (reply.status, reply.code) == (409, "conflicting_appointments")
    assert reply.body["appointment_ids"] == [held.body["id"]]
    assert await slot_row(db, slot["id"]) == before

    assert (await api.call("POST", f"/v1/appointments/{held.body['id']}/cancel", who)).status == 200
    assert (await api.call("DELETE", f"/v1/slots/{slot['id']}", api.admin())).status == 204


async def test_a_slot_that_has_started_is_kept(api: Any, catalog: Any, db: asyncpg.Connection) -> None:
    slot = await api.slot(catalog, api.future(days=3))
    # Only time can make a slot start; move this one into the past instead of waiting.
    await db.execute("UPDATE slots SET starts_at = now() - $2::interval, ends_at = now() + $2::interval"
                     " WHERE id = $1", uuid.UUID(slot["id"]), timedelta(minutes=10))
    reply = await api.call("DELETE", f"/v1/slots/{slot['id']}", api.admin())
    assert (reply.status, reply.code) == (409, "slot_in_past")
    assert (await slot_row(db, slot["id"]))["status"] == "open"


@pytest.mark.parametrize("slot_id", [str(uuid.uuid4()), "not-a-uuid"])
async def test_an_unknown_slot_is_404(api: Any, slot_id: str) -> None:
    reply = await api.call("DELETE", f"/v1/slots/{slot_id}", api.admin())
    assert (reply.status, reply.code) == (404, "not_found")
