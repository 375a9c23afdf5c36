"""The worst moment to die: booking has made the hold, the waitlist has not recorded it.

The booking port below lets the real call through and then fails as a killed process would, before the answer is
written. The `requesting` row stays; once its lease runs out the sweeper re-sends the same Idempotency-Key and
booking replays the same hold, so the client gets exactly one offer and nobody is skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest

from smartslot_common.testing import wait_for
from smartslot_common.testing.identity import run_identity_key
from smartslot_common.testing.service_api import Catalog, ServiceApi
from waitlist.adapters.booking import BookingClient, BookingPort, HoldAnswer, HoldRequest, Verdict
from waitlist.settings import WAITLIST_SYSTEM_USER

from .conftest import Db, StartWaitlist, book, cancel_as_admin, client, future, join, new_slot, settled

pytestmark = pytest.mark.integration


class DiesAfterBookingAnswers:
    """A booking port whose first held answer is lost, as if the process died right after booking committed."""

    def __init__(self, real: BookingPort) -> None:
        self._real = real
        self.lost: list[HoldAnswer] = []

    async def hold(self, request: HoldRequest, key: str) -> HoldAnswer:
        answer = await self._real.hold(request, key)
        if answer.verdict is Verdict.HELD and not self.lost:
            self.lost.append(answer)
            raise ConnectionResetError("killed after booking answered")
        return answer

    async def release_reservation(self, slot_id: uuid.UUID) -> bool | None:
        return await self._real.release_reservation(slot_id)


@pytest.fixture
async def real_booking(booking_url: str) -> AsyncIterator[BookingPort]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        yield BookingClient(session, booking_url, WAITLIST_SYSTEM_USER, run_identity_key())


async def _waitlist_holds(db: Db, slot_id: str, client_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await db.connection.fetch(
        "SELECT id FROM booking.appointments WHERE slot_id = $1::uuid AND client_id = $2 AND origin = 'waitlist' "
        "ORDER BY created_at", slot_id, client_id,
    )
    return [row["id"] for row in rows]


async def _scene(booking: ServiceApi, waitlist: ServiceApi, catalog: Catalog, minutes: int):
    slot_id = await new_slot(booking, catalog, future(days=6, minutes=minutes))
    appointment = await book(booking, slot_id)
    a, b = client("a"), client("b")
    await join(waitlist, a, service_id=catalog.service_id, slot_id=slot_id)
    await join(waitlist, b, service_id=catalog.service_id, slot_id=slot_id)
    await cancel_as_admin(booking, appointment["id"])
    return slot_id, a, b


async def test_a_hold_lost_in_the_crash_window_is_recovered_with_the_same_key(
    booking: ServiceApi, own_waitlist: StartWaitlist, real_booking: BookingPort, catalog: Catalog, db: Db
):
    port = DiesAfterBookingAnswers(real_booking)
    waitlist = await own_waitlist(port, offer_ttl_seconds=3, request_lease_seconds=0.8)
    slot_id, a, b = await _scene(booking, waitlist, catalog, 0)

    await wait_for(lambda: db.made(slot_id), timeout=10, what="a's offer, after recovery")

    [lost] = port.lost
    [offer] = await db.offers(slot_id)
    assert (offer["status"], offer["appointment_id"], offer["attempt"]) == ("pending", lost.appointment_id, 1)
    assert offer["deadline"] == lost.hold_expires_at  # booking replayed the first answer
    assert await _waitlist_holds(db, slot_id, a.user_id) == [lost.appointment_id]  # one hold, not two
    await settled(db, slot_id, timeout=15)
    assert await db.made(slot_id) == [str(a.user_id), str(b.user_id)]


async def test_a_hold_that_lapsed_before_recovery_is_offered_afresh_and_nobody_is_skipped(
    booking: ServiceApi, own_waitlist: StartWaitlist, real_booking: BookingPort, catalog: Catalog, db: Db
):
    """The lost hold expires in booking before the lease runs out: its release waits for the request to settle, the
    client who never heard of it is offered the slot properly, then the next one."""
    port = DiesAfterBookingAnswers(real_booking)
    waitlist = await own_waitlist(port, offer_ttl_seconds=1, request_lease_seconds=2.5)
    slot_id, a, b = await _scene(booking, waitlist, catalog, 60)

    await settled(db, slot_id, timeout=20)

    [lost] = port.lost
    assert await db.made(slot_id) == [str(a.user_id), str(b.user_id)]  # a once, then b; nobody twice
    offers = await db.offers(slot_id)
    assert [(offer["client_id"], offer["status"]) for offer in offers] == [
        (a.user_id, "failed"), (a.user_id, "expired"), (b.user_id, "expired")]
    assert (offers[0]["appointment_id"], offers[0]["failure"]) == (lost.appointment_id, "lapsed_before_offer")
    seats = await db.connection.fetch(
        "SELECT status, outcome FROM waitlist.seats WHERE slot_id = $1::uuid ORDER BY created_at", slot_id
    )
    assert [tuple(seat) for seat in seats] == [("done", "returned"), ("done", "merged")]
    assert (await db.slot(slot_id))["reserved_until"] is None


async def test_a_hold_confirmed_before_it_was_recorded_is_accepted_once_recovered(
    booking: ServiceApi, own_waitlist: StartWaitlist, real_booking: BookingPort, catalog: Catalog, db: Db
):
    """The client found the held appointment in their list and confirmed it while the waitlist was "down"."""
    port = DiesAfterBookingAnswers(real_booking)
    waitlist = await own_waitlist(port, offer_ttl_seconds=5, request_lease_seconds=1.0)
    slot_id, a, b = await _scene(booking, waitlist, catalog, 120)
    await wait_for(lambda: _lost(port), what="the hold lost in the crash window")

    confirmed = await booking.call("POST", f"/v1/appointments/{port.lost[0].appointment_id}/confirm", a)
    assert confirmed.status == 200, confirmed.body
    await settled(db, slot_id)

    [offer] = await db.offers(slot_id)
    assert (offer["client_id"], offer["status"], offer["appointment_id"]) == (
        a.user_id, "accepted", port.lost[0].appointment_id)
    assert [event["client_id"] for event in await db.events("waitlist.offer_accepted", slot_id)] == [str(a.user_id)]
    listed = await waitlist.call("GET", "/v1/waitlist", b)
    assert [item["status"] for item in listed.body["items"]] == ["waiting"]  # the seat was a's: b still waits


async def _lost(port: DiesAfterBookingAnswers) -> bool:
    return bool(port.lost)
