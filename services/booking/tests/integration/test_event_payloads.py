"""Events carry what consumers need without calling booking back: zone, names, place, the client's contact.

They are checked against the one shared schema (`smartslot_common.contracts.payloads`) that consumers parse.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import orjson

from smartslot_common.contracts.payloads import AppointmentPayload
from smartslot_common.http.identity import EMAIL_HEADER, NAME_HEADER
from smartslot_common.messaging import woken_by_local_commits
from smartslot_common.testing.service_api import Catalog

from .conftest import BookingApi, future


async def _events(db: asyncpg.Connection, appointment_id: str) -> dict[str, dict]:
    rows = await db.fetch(
        "SELECT event_type, (envelope->'payload')::text AS payload FROM booking.outbox "
        "WHERE envelope->'payload'->>'appointment_id' = $1 ORDER BY created_at, seq", appointment_id,
    )
    return {row["event_type"]: orjson.loads(row["payload"]) for row in rows}


async def test_a_hold_event_carries_zone_names_place_and_the_clients_contact(
    api: BookingApi, catalog: Catalog, db: asyncpg.Connection
):
    client = api.who("client")
    slot = await api.slot(catalog, future(days=3))
    reply = await api.call("POST", "/v1/holds", client, {"slot_id": slot["id"]},
                           headers={EMAIL_HEADER: "grace@example.com", NAME_HEADER: "Grace%20H%C3%B6pper"})
    assert reply.status == 201, reply.body

    payload = AppointmentPayload.model_validate((await _events(db, reply.body["id"]))["appointment.locked"])

    assert payload.appointment_id == uuid.UUID(reply.body["id"])
    assert payload.timezone == catalog.zone
    assert payload.client_email == "grace@example.com"
    assert payload.client_name == "Grace Höpper"
    assert payload.service_name
    assert payload.provider_name
    assert payload.clinic_name
    assert payload.price_cents is not None
    assert payload.currency == reply.body["currency"]


async def test_time_off_that_cancels_a_booking_does_not_offer_the_withdrawn_seat(
    api: BookingApi, catalog: Catalog, db: asyncpg.Connection
):
    client = api.who("client")
    starts = future(days=4)
    slot = await api.slot(catalog, starts)
    booked = await api.call("POST", "/v1/appointments", client, {"slot_id": slot["id"]})
    assert booked.status == 201, booked.body

    time_off = await api.call("POST", f"/v1/providers/{catalog.provider_id}/time-off", api.who("admin"), {
        "starts_at": (starts - timedelta(hours=1)).isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "reason": "conference", "cancel_conflicting": True,
    })

    assert time_off.status == 201, time_off.body
    events = await _events(db, booked.body["id"])
    cancelled = AppointmentPayload.model_validate(events["appointment.cancelled"])
    assert (cancelled.fee_cents, cancelled.reason) == (0, "conference")
    assert "slot.released" not in events
    blocked = await db.fetchval(
        "SELECT count(*) FROM booking.outbox "
        "WHERE event_type = 'slot.blocked' AND envelope->'payload'->>'slot_id' = $1",
        slot["id"],
    )
    assert blocked == 1


async def test_every_write_that_leaves_an_event_wakes_this_process_s_relay(api: Any, catalog: Any) -> None:
    """Booking's connections write outbox rows without a notification (its relay runs here): each write that leaves
    an event wakes the relay itself, whether the event went through `record` or was written by the claim's or the
    confirmation's own statement."""
    woken: list[str] = []
    with woken_by_local_commits(lambda: woken.append("woken")):
        booked = await api.call("POST", "/v1/appointments", api.client(),
                                {"slot_id": (await api.slot(catalog, api.future(days=4)))["id"]})
        assert (booked.status, len(woken)) == (201, 2), "the slot's creation, then the instant booking"
        who = api.client()
        held = await api.hold((await api.slot(catalog, api.future(days=5)))["id"], who)
        assert (held.status, len(woken)) == (201, 4)
        confirmed = await api.call("POST", f"/v1/appointments/{held.body['id']}/confirm", who, None)
        assert (confirmed.status, len(woken)) == (200, 5)
        cancelled = await api.call("POST", f"/v1/appointments/{held.body['id']}/cancel", who, {})
        assert (cancelled.status, len(woken)) == (200, 6)
