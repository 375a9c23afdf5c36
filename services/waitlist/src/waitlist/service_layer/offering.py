"""Reacting to booking: its events about seats and holds, and its answers to our hold requests.

Each function runs inside the caller's transaction: it first takes the slot's advisory lock, changes rows only by
compare-and-set, writes its events to the outbox in the same transaction, and returns the follow-ups (calls to
booking) to run once the transaction commits. A follow-up lost to a crash is found again by the sweeper: the rows
say what is still to be done.

Booking is the arbiter of claim against expiry: its confirmation refuses a hold past `hold_expires_at` on the
database clock, under the appointment's row lock. The waitlist never contradicts it: a pending offer becomes
`expired` only when booking said the hold ended (its event) or gave the same seat to the next client (which, for a
one-seat slot, proves the hold was expired first), and `accepted` only on booking's confirmation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from smartslot_common.contracts.events import WAITLIST_OFFER_MADE
from smartslot_common.db import Connection
from smartslot_common.logging import get_logger
from smartslot_common.messaging import add_to_outbox
from waitlist import metrics
from waitlist.adapters import entries, seats
from waitlist.adapters import offers as repo
from waitlist.domain import model
from waitlist.domain import offers as states
from waitlist.domain.model import FreeSeat
from waitlist.service_layer import walk
from waitlist.service_layer.events import offer_event
from waitlist.service_layer.followups import Followup, Policy, ReturnSlot

log = get_logger(__name__)
RESERVING = frozenset({"provider", "admin"})  # releases booking keeps out of the public pool for the waitlist
EARLY_CONFIRMED, EARLY_ENDED = "confirmed", "ended"


@dataclass(frozen=True)
class Release:
    """What `slot.released` said: one seat of a slot came free."""

    event_id: uuid.UUID
    occurred_at: datetime
    slot_id: uuid.UUID
    service_id: uuid.UUID
    provider_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    released_by: str
    appointment_id: uuid.UUID | None

    def free_seat(self) -> FreeSeat:
        return FreeSeat(self.slot_id, self.service_id, self.provider_id, self.starts_at)


async def seat_released(connection: Connection, policy: Policy, release: Release) -> list[Followup]:
    """A seat came free: the tail of one of our holds moves its offer on; any other release starts a new seat."""
    if release.released_by == "waitlist":
        return []
    await seats.lock_slot(connection, release.slot_id)
    if release.appointment_id is not None:
        known = await repo.offer_by_appointment(connection, release.appointment_id)
        if known is not None and known["status"] != states.ACCEPTED:
            return await walk.offer_over(connection, policy, known, "released")
    # A hold request in flight on this slot may be what this release is the tail of: decide once it is settled.
    deferred = await repo.has_requesting_on_slot(connection, release.slot_id)
    if not deferred and not await repo.any_candidate(connection, release.free_seat()):
        return await _nobody_waits(connection, policy, release)
    status = states.SEAT_DEFERRED if deferred else states.SEAT_OFFERING
    seat = await seats.insert_seat(connection, _seat_values(release, status))
    if seat is None or deferred:
        return []
    return await walk.advance(connection, policy, seat)


async def appointment_ended(
    connection: Connection, policy: Policy, appointment_id: uuid.UUID, slot_id: uuid.UUID, why: str
) -> list[Followup]:
    """Booking expired or cancelled an appointment: if it was an open offer, it expired; the seat moves on."""
    await seats.lock_slot(connection, slot_id)
    known = await repo.offer_by_appointment(connection, appointment_id)
    if known is None:  # a hold still being recorded: its offer applies this once it is
        await repo.remember_early_outcome(connection, appointment_id, EARLY_ENDED)
        return []
    return await walk.offer_over(connection, policy, known, why)


async def appointment_confirmed(
    connection: Connection, policy: Policy, appointment_id: uuid.UUID, slot_id: uuid.UUID
) -> list[Followup]:
    """The client confirmed an offered hold: the offer is accepted, the entry booked, the seat done."""
    await seats.lock_slot(connection, slot_id)
    known = await repo.offer_by_appointment(connection, appointment_id)
    if known is None:  # confirmed before the hold was recorded as an offer (a crash window)
        await repo.remember_early_outcome(connection, appointment_id, EARLY_CONFIRMED)
        return []
    if known["status"] != states.PENDING:
        if known["status"] in (states.EXPIRED, states.FAILED):  # booking's word wins (see the capacity note)
            log.warning("waitlist_hold_confirmed_after_offer_ended", offer_id=str(known["id"]))
            await entries.move(connection, known["entry_id"], (*model.LIVE_ENTRY, model.EXPIRED), model.BOOKED)
        return []
    return await walk.accept(connection, policy, known)


async def hold_granted(
    connection: Connection, policy: Policy, offer: asyncpg.Record, appointment_id: uuid.UUID,
    deadline: datetime,
) -> list[Followup]:
    """Booking holds the seat for the client: the offer is made (and the previous one, whose seat this is, expired)."""
    await seats.lock_slot(connection, offer["slot_id"])
    current = await repo.offer(connection, offer["id"])
    if current is None or current["status"] != states.REQUESTING or current["attempt"] != offer["attempt"]:
        return []  # settled already (a recovery pass and the first sender both got the answer)
    await _expire_predecessor(connection, current)
    early = await repo.early_outcome(connection, appointment_id)
    if early == EARLY_ENDED or (early is None and await repo.is_past(connection, deadline)):
        # Recovered too late (or the hold ended meanwhile): the client was never told, so it was no offer.
        await repo.move_offer(connection, current["id"], states.REQUESTING, states.FAILED, current["attempt"],
                              appointment_id=appointment_id, deadline=deadline, failure="lapsed_before_offer")
        followups = await walk.advance(connection, policy, await seats.seat(connection, current["seat_id"]))
        return followups + await walk.wake_deferred(connection, policy, current["slot_id"])
    made = await repo.move_offer(connection, current["id"], states.REQUESTING, states.PENDING, current["attempt"],
                                 appointment_id=appointment_id, deadline=deadline)
    assert made is not None  # `current` is locked (FOR UPDATE) and was checked above: the compare-and-set holds
    await entries.move(connection, current["entry_id"], *states.ENTRY_FOLLOWS[states.PENDING])
    if early == EARLY_CONFIRMED:  # the client found and confirmed the hold before we recorded it
        accepted = await walk.accept(connection, policy, made)
        return accepted + await walk.wake_deferred(connection, policy, current["slot_id"])
    await add_to_outbox(connection, await offer_event(connection, WAITLIST_OFFER_MADE, current["id"]))
    metrics.OFFERS_MADE.inc()
    step = "first" if await repo.offers_made_for_seat(connection, current["seat_id"]) == 1 else "next"
    waited = (made["offered_at"] - made["available_at"]).total_seconds()
    metrics.RELEASE_TO_OFFER.labels(step).observe(max(waited, 0.0))
    return await walk.wake_deferred(connection, policy, current["slot_id"])


async def hold_refused(
    connection: Connection, policy: Policy, offer: asyncpg.Record, code: str
) -> list[Followup]:
    """Booking will not hold the seat (taken, blocked, started): nobody was told; the seat is done unless an overdue
    offer before this one still awaits booking's ruling."""
    await seats.lock_slot(connection, offer["slot_id"])
    current = await repo.offer(connection, offer["id"])
    if current is None or current["status"] != states.REQUESTING or current["attempt"] != offer["attempt"]:
        return []
    await repo.move_offer(connection, current["id"], states.REQUESTING, states.FAILED, current["attempt"],
                          failure=code)
    metrics.HOLDS_REFUSED.labels(code).inc()
    predecessor = await _pending_predecessor(connection, current)
    followups: list[Followup] = []
    if predecessor is not None:
        await repo.set_recheck(connection, predecessor["id"], policy.recheck_seconds)
    else:
        seat = await seats.seat(connection, current["seat_id"])
        followups = await walk.close(connection, policy, seat, states.RETURNED)
    return followups + await walk.wake_deferred(connection, policy, current["slot_id"])


async def _pending_predecessor(connection: Connection, offer: asyncpg.Record) -> asyncpg.Record | None:
    if offer["predecessor_id"] is None:
        return None
    predecessor = await repo.offer(connection, offer["predecessor_id"])
    return predecessor if predecessor is not None and predecessor["status"] == states.PENDING else None


async def _expire_predecessor(connection: Connection, offer: asyncpg.Record) -> None:
    """Booking gave the seat to this offer's client, so the overdue hold before it is over."""
    predecessor = await _pending_predecessor(connection, offer)
    if predecessor is not None:
        await walk.expire(connection, predecessor, "next_offer_made")


async def _nobody_waits(connection: Connection, policy: Policy, release: Release) -> list[Followup]:
    """Nobody matches: a slot booking reserved for the waitlist goes back to the public now (durably)."""
    if release.released_by not in RESERVING:
        return []
    values = _seat_values(release, states.SEAT_RETURNING) | {"outcome": states.RETURNED,
                                                             "lease_seconds": policy.lease_seconds}
    seat = await seats.insert_seat(connection, values)
    return [ReturnSlot(seat["id"], seat["slot_id"])] if seat is not None else []


def _seat_values(release: Release, status: str) -> dict[str, Any]:
    return {
        "id": release.event_id, "released_appointment_id": release.appointment_id, "slot_id": release.slot_id,
        "service_id": release.service_id, "provider_id": release.provider_id, "starts_at": release.starts_at,
        "ends_at": release.ends_at, "released_by": release.released_by, "released_at": release.occurred_at,
        "status": status,
    }
