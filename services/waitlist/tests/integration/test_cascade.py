"""A freed slot walks down the waitlist: each client in order gets a held appointment for the offer TTL, the next
one when it lapses, and the public gets the slot back when nobody is left (real booking, OFFER_TTL_SECONDS=2)."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta

import pytest

from smartslot_common.testing import wait_for
from smartslot_common.testing.service_api import Catalog, ServiceApi

from .conftest import OFFER_TTL_SECONDS, Db, book, cancel_as_admin, client, future, join, new_slot, settled

pytestmark = pytest.mark.integration


async def test_three_waiting_clients_nobody_claims_each_offered_once_in_order_then_public(
    booking: ServiceApi, waitlist: ServiceApi, catalog: Catalog, db: Db
):
    starts_at = future(days=3)
    slot_id = await new_slot(booking, catalog, starts_at)
    appointment = await book(booking, slot_id)
    a, b, c, late = client("a"), client("b"), client("c"), client("late")
    # Three kinds of wish, all matching this slot, joined in this order.
    entry_a = await join(waitlist, a, service_id=catalog.service_id, slot_id=slot_id)
    entry_b = await join(waitlist, b, service_id=catalog.service_id, provider_id=catalog.provider_id,
                         **{"from": (starts_at - timedelta(hours=1)).isoformat(),
                            "to": (starts_at + timedelta(hours=1)).isoformat()})
    entry_c = await join(waitlist, c, service_id=catalog.service_id)
    # Waiting for another window: never offered this slot.
    await join(waitlist, late, service_id=catalog.service_id, **{"from": (starts_at + timedelta(hours=1)).isoformat()})

    await cancel_as_admin(booking, appointment["id"])
    await settled(db, slot_id, timeout=6 * OFFER_TTL_SECONDS + 10)

    clients = [str(who.user_id) for who in (a, b, c)]
    assert await db.made(slot_id) == clients
    assert [event["client_id"] for event in await db.events("waitlist.offer_expired", slot_id)] == clients
    offers = await db.offers(slot_id)
    assert [(str(offer["client_id"]), offer["status"]) for offer in offers] == [(who, "expired") for who in clients]
    for entry in (entry_a, entry_b, entry_c):
        assert await db.entry_status(entry["id"]) == "expired"
    for offer in offers:  # each a real hold in booking, for the offer TTL, that booking expired
        assert await db.appointment_status(offer["appointment_id"]) == "expired"
        assert offer["deadline"] - offer["offered_at"] <= timedelta(seconds=OFFER_TTL_SECONDS)
    # Each next offer came only after the last one's deadline, and within about a sweep of it.
    for before, after in itertools.pairwise(offers):
        assert before["deadline"] <= after["offered_at"] < before["deadline"] + timedelta(seconds=1.5)

    slot = await db.slot(slot_id)
    assert (slot["held"], slot["booked"], slot["reserved_until"]) == (0, 0, None)
    public = await booking.call("POST", "/v1/holds", client("public"), {"slot_id": slot_id})
    assert public.status == 201, public.body


async def test_while_offered_the_public_cannot_hold_it_and_a_claim_books_the_entry(
    booking: ServiceApi, waitlist: ServiceApi, catalog: Catalog, db: Db
):
    slot_id = await new_slot(booking, catalog, future(days=3, minutes=60))
    appointment = await book(booking, slot_id)
    a, b = client("a"), client("b")
    entry_a = await join(waitlist, a, service_id=catalog.service_id, slot_id=slot_id)
    entry_b = await join(waitlist, b, service_id=catalog.service_id, slot_id=slot_id)

    await cancel_as_admin(booking, appointment["id"])
    offered = await wait_for(lambda: _offer_of(waitlist, a), what="a's offer")

    assert (await booking.call("POST", "/v1/holds", client("public"), {"slot_id": slot_id})).status == 409
    held = await booking.call("GET", f"/v1/appointments/{offered['appointment_id']}", a)
    assert (held.body["status"], held.body["origin"]) == ("locked", "waitlist")
    confirmed = await booking.call("POST", f"/v1/appointments/{offered['appointment_id']}/confirm", a)
    assert confirmed.status == 200, confirmed.body
    await settled(db, slot_id)

    assert await db.entry_status(entry_a["id"]) == "booked"
    assert await db.entry_status(entry_b["id"]) == "waiting"
    assert await db.made(slot_id) == [str(a.user_id)]
    accepted = await db.events("waitlist.offer_accepted", slot_id)
    assert [(event["client_id"], event["appointment_id"]) for event in accepted] == [
        (str(a.user_id), offered["appointment_id"])]
    [made] = await db.events("waitlist.offer_made", slot_id)
    assert (made["client_email"], made["client_name"]) == (a.email, "A")
    assert datetime.fromisoformat(made["offer_expires_at"]) == datetime.fromisoformat(offered["expires_at"])
    assert (made["timezone"], made["service_name"]) == ("Europe/Berlin", "Check-up")
    listed = await waitlist.call("GET", "/v1/waitlist", a)
    assert [(item["status"], item["offer"]["status"]) for item in listed.body["items"]] == [("booked", "accepted")]


async def test_declining_by_cancelling_the_held_appointment_moves_on_at_once(
    booking: ServiceApi, waitlist: ServiceApi, catalog: Catalog, db: Db
):
    slot_id = await new_slot(booking, catalog, future(days=3, minutes=120))
    appointment = await book(booking, slot_id)
    a, b = client("a"), client("b")
    await join(waitlist, a, service_id=catalog.service_id, slot_id=slot_id)
    await join(waitlist, b, service_id=catalog.service_id, slot_id=slot_id)

    await cancel_as_admin(booking, appointment["id"])
    offered = await wait_for(lambda: _offer_of(waitlist, a), what="a's offer")
    declined = await booking.call("POST", f"/v1/appointments/{offered['appointment_id']}/cancel", a, {})
    assert declined.status == 200, declined.body

    await wait_for(lambda: _offer_of(waitlist, b), timeout=OFFER_TTL_SECONDS - 0.5, what="b's offer, before a's TTL")
    assert await db.made(slot_id) == [str(a.user_id), str(b.user_id)]


async def test_nobody_waiting_hands_a_reserved_slot_back_at_once(
    booking: ServiceApi, waitlist: ServiceApi, catalog: Catalog, db: Db
):
    slot_id = await new_slot(booking, catalog, future(days=3, minutes=180))
    appointment = await book(booking, slot_id)
    await join(waitlist, client(), service_id=catalog.service_id, slot_id=uuid.uuid4())  # waits for another slot

    await cancel_as_admin(booking, appointment["id"])

    await settled(db, slot_id)
    assert (await db.slot(slot_id))["reserved_until"] is None
    assert await db.made(slot_id) == []


async def test_two_freed_seats_of_one_slot_are_offered_side_by_side(
    booking: ServiceApi, waitlist: ServiceApi, catalog: Catalog, db: Db
):
    """Capacity 2: each freed seat walks the queue on its own, one open offer per seat; seats are interchangeable."""
    slot_id = await new_slot(booking, catalog, future(days=3, minutes=240), capacity=2)
    bookings = [await book(booking, slot_id) for _ in range(2)]
    a, b, c = client("a"), client("b"), client("c")
    for who in (a, b, c):
        await join(waitlist, who, service_id=catalog.service_id, slot_id=slot_id)

    for appointment in bookings:
        await cancel_as_admin(booking, appointment["id"])
    offer_a = await wait_for(lambda: _offer_of(waitlist, a), what="a's offer")
    await wait_for(lambda: _offer_of(waitlist, b), what="b's offer")
    confirmed = await booking.call("POST", f"/v1/appointments/{offer_a['appointment_id']}/confirm", a)
    assert confirmed.status == 200, confirmed.body
    await settled(db, slot_id, timeout=4 * OFFER_TTL_SECONDS + 10)

    assert await db.made(slot_id) == [str(who.user_id) for who in (a, b, c)]
    statuses = {str(offer["client_id"]): offer["status"] for offer in await db.offers(slot_id)}
    assert statuses == {str(a.user_id): "accepted", str(b.user_id): "expired", str(c.user_id): "expired"}
    slot = await db.slot(slot_id)
    assert (slot["held"], slot["booked"], slot["reserved_until"]) == (0, 1, None)


async def _offer_of(waitlist: ServiceApi, who) -> dict | None:
    """The client's open offer, if they have one."""
    listed = await waitlist.call("GET", "/v1/waitlist", who)
    offers = [item["offer"] for item in listed.body["items"] if item["offer"] and item["status"] == "offered"]
    return offers[0] if offers else None
