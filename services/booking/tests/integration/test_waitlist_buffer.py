"""A seat freed by the provider or an admin goes to the waitlist first (seed 001's buffer window): the slot stays
out of the public pool until the waitlist takes it or hands it back."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg

from smartslot_common.testing.service_api import Catalog

from .conftest import BookingApi, future


async def _booked(api: BookingApi, catalog: Catalog) -> tuple[dict, dict]:
    slot = await api.slot(catalog, future(days=5))
    booked = await api.call("POST", "/v1/appointments", api.who("client"), {"slot_id": slot["id"]})
    assert booked.status == 201, booked.body
    return slot, booked.body


async def test_a_provider_cancellation_reserves_the_slot_for_the_waitlist(
    api: BookingApi, catalog: Catalog, db: asyncpg.Connection
):
    slot, appointment = await _booked(api, catalog)

    cancelled = await api.call("POST", f"/v1/appointments/{appointment['id']}/cancel", api.who("admin"), {})

    assert cancelled.status == 200, cancelled.body
    window = await db.fetchval(
        "SELECT reserved_until - clock_timestamp() FROM booking.slots WHERE id = $1::uuid", slot["id"]
    )
    assert timedelta(minutes=9) < window <= timedelta(minutes=10)
    public = await api.hold(slot["id"], api.who("client"))
    assert (public.status, public.code) == (409, "slot_unavailable")
    offer = await api.call("POST", "/internal/v1/holds", api.who("system"), {
        "slot_id": slot["id"], "client_id": str(api.who("client").user_id), "ttl_seconds": 60,
    })
    assert offer.status == 201, offer.body
    assert offer.body["origin"] == "waitlist"


async def test_a_client_cancellation_goes_straight_back_to_the_public(api: BookingApi, catalog: Catalog):
    slot, appointment = await _booked(api, catalog)
    owner = api.who("client", user_id=uuid.UUID(appointment["client_id"]))

    assert (await api.call("POST", f"/v1/appointments/{appointment['id']}/cancel", owner, {})).status == 200

    assert (await api.hold(slot["id"], api.who("client"))).status == 201


async def test_the_waitlist_hands_a_reserved_slot_back_once(
    api: BookingApi, catalog: Catalog, db: asyncpg.Connection
):
    slot, appointment = await _booked(api, catalog)
    await api.call("POST", f"/v1/appointments/{appointment['id']}/cancel", api.who("admin"), {})
    path = f"/internal/v1/slots/{slot['id']}/release-reservation"

    assert (await api.call("POST", path, api.who("client"), {})).status == 404  # not for the public
    assert (await api.call("POST", path, api.who("system"), {})).status == 204
    assert (await api.call("POST", path, api.who("system"), {})).status == 404  # nothing reserved any more

    assert await db.fetchval("SELECT reserved_until FROM booking.slots WHERE id = $1::uuid", slot["id"]) is None
    released = await db.fetch(
        "SELECT (envelope->'payload'->>'released_by') AS by FROM booking.outbox "
        "WHERE event_type = 'slot.released' AND envelope->'payload'->>'slot_id' = $1", slot["id"],
    )
    assert sorted(row["by"] for row in released) == ["admin", "waitlist"]
    assert (await api.hold(slot["id"], api.who("client"))).status == 201
