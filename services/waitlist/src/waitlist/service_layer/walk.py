"""A freed seat's walk down the queue, inside the caller's transaction (who holds the slot's lock).

One offer at a time per seat: wait while a request is in flight or the offer is open; offer the seat to the next
entry; hand the slot back when nobody is left. An offer leaves `pending` only on booking's word (see `offering`).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import asyncpg

from smartslot_common.contracts.events import WAITLIST_OFFER_ACCEPTED, WAITLIST_OFFER_EXPIRED
from smartslot_common.db import Connection
from smartslot_common.messaging import add_to_outbox
from waitlist import metrics
from waitlist.adapters import entries, seats
from waitlist.adapters import offers as repo
from waitlist.domain import offers as states
from waitlist.domain.model import FreeSeat
from waitlist.service_layer.events import offer_event
from waitlist.service_layer.followups import Followup, Policy, ReturnSlot, SendHold

MAX_PICKS = 10  # entries lost to concurrent decisions before giving up this round (the transaction is retried)


class _EntryTaken(Exception):
    """The candidate stopped waiting between the query and the claim."""


async def advance(connection: Connection, policy: Policy, seat: asyncpg.Record | None) -> list[Followup]:
    """The seat's next move: wait, offer it to the next entry, or hand it back when nobody is left."""
    if seat is None or seat["status"] != states.SEAT_OFFERING:
        return []
    live = await repo.live_offers(connection, seat["id"])
    pending = next((row for row in live if row["status"] == states.PENDING), None)
    state = states.SeatState(
        open=True,
        request_in_flight=any(row["status"] == states.REQUESTING for row in live),
        pending=pending is not None,
        pending_overdue=bool(pending is not None and pending["overdue"]),
    )
    if states.next_step(replace(state, has_candidate=True)) is not states.Step.OFFER:
        return []
    made = await _offer_to_next(connection, policy, seat, pending)
    step = states.next_step(replace(state, has_candidate=made is not None))
    if step is states.Step.OFFER:
        assert made is not None
        return [SendHold(made["id"], made["slot_id"])]
    if step is states.Step.CLOSE:
        return await close(connection, policy, seat, states.RETURNED)
    return []  # an overdue offer with nobody after it: booking's ruling (its expiry event) moves it on


async def wake_deferred(connection: Connection, policy: Policy, slot_id: uuid.UUID) -> list[Followup]:
    """Settle the slot's deferred releases once no hold request is in flight on it."""
    if await repo.has_requesting_on_slot(connection, slot_id):
        return []
    followups: list[Followup] = []
    for seat in await seats.deferred_seats(connection, slot_id, 100):
        followups += await undefer(connection, policy, seat)
    return followups


async def undefer(connection: Connection, policy: Policy, seat: asyncpg.Record) -> list[Followup]:
    """A deferred release is either the tail of one of our holds (merged into that offer's seat) or a new seat."""
    if await repo.has_requesting_on_slot(connection, seat["slot_id"]):
        return []
    appointment_id = seat["released_appointment_id"]
    known = await repo.offer_by_appointment(connection, appointment_id) if appointment_id else None
    if known is not None and known["status"] != states.ACCEPTED:
        await seats.set_seat(connection, seat["id"], states.SEAT_DONE, states.MERGED)
        return await offer_over(connection, policy, known, "released")
    await seats.set_seat(connection, seat["id"], states.SEAT_OFFERING)
    return await advance(connection, policy, await seats.seat(connection, seat["id"]))


async def sweep_due(connection: Connection, policy: Policy, limit: int) -> list[Followup]:
    """Offers past their deadline (database clock): offer each seat to the next entry without waiting for booking's
    expiry event. Rows or slots another process is working on are skipped this round."""
    followups: list[Followup] = []
    for due in await repo.due_offers(connection, limit):
        if not await seats.try_lock_slot(connection, due["slot_id"]):
            continue
        await repo.set_recheck(connection, due["id"], policy.recheck_seconds)
        followups += await advance(connection, policy, await seats.seat(connection, due["seat_id"]))
    return followups


async def sweep_deferred(connection: Connection, policy: Policy, limit: int) -> list[Followup]:
    """Deferred releases whose slot has no request in flight any more (a crash may have left them)."""
    followups: list[Followup] = []
    for seat in await seats.deferred_seats(connection, None, limit):
        if await seats.try_lock_slot(connection, seat["slot_id"]):
            followups += await undefer(connection, policy, seat)
    return followups


async def offer_over(
    connection: Connection, policy: Policy, offer: asyncpg.Record, why: str
) -> list[Followup]:
    """An offer's hold ended without a confirmation: it expired, and its seat goes to the next entry."""
    if offer["status"] != states.PENDING:
        return []  # already settled; the seat moved on then
    await expire(connection, offer, why)
    return await advance(connection, policy, await seats.seat(connection, offer["seat_id"]))


async def accept(connection: Connection, policy: Policy, offer: asyncpg.Record) -> list[Followup]:
    await repo.move_offer(connection, offer["id"], states.PENDING, states.ACCEPTED)
    await entries.move(connection, offer["entry_id"], *states.ENTRY_FOLLOWS[states.ACCEPTED])
    await add_to_outbox(connection, await offer_event(connection, WAITLIST_OFFER_ACCEPTED, offer["id"]))
    metrics.OFFERS_ACCEPTED.inc()
    return await close(connection, policy, await seats.seat(connection, offer["seat_id"]), states.CLAIMED)


async def expire(connection: Connection, offer: asyncpg.Record, why: str) -> None:
    if await repo.move_offer(connection, offer["id"], states.PENDING, states.EXPIRED, failure=why) is None:
        return
    await entries.move(connection, offer["entry_id"], *states.ENTRY_FOLLOWS[states.EXPIRED])
    await add_to_outbox(connection, await offer_event(connection, WAITLIST_OFFER_EXPIRED, offer["id"]))
    metrics.OFFERS_EXPIRED.inc()


async def _offer_to_next(
    connection: Connection, policy: Policy, seat: asyncpg.Record, predecessor: asyncpg.Record | None
) -> asyncpg.Record | None:
    """Write the decision "offer this seat to the next entry" as a `requesting` offer; None when nobody matches."""
    free = free_seat(seat)
    passed_over: list[uuid.UUID] = []
    if predecessor is not None:
        available_at = predecessor["deadline"]
    else:
        available_at = await repo.last_offer_ended(connection, seat["id"]) or seat["released_at"]
    for _ in range(MAX_PICKS):
        found = await repo.candidate(connection, free, passed_over)
        if found is None:
            return None
        try:
            async with connection.transaction():  # a savepoint: losing the entry to a concurrent decision undoes this
                if not await entries.touch_waiting(connection, found["id"]):
                    raise _EntryTaken
                values = _offer_values(policy, seat, found, predecessor) | {"available_at": available_at}
                return await repo.insert_offer(connection, values)
        except (asyncpg.UniqueViolationError, _EntryTaken):
            passed_over.append(found["id"])
    raise asyncpg.SerializationError(f"lost {MAX_PICKS} candidates of slot {seat['slot_id']} to concurrent offers")


async def close(
    connection: Connection, policy: Policy, seat: asyncpg.Record | None, outcome: str
) -> list[Followup]:
    """The seat's walk is over: hand the slot back, unless another freed seat of it is still being offered."""
    if seat is None or seat["status"] != states.SEAT_OFFERING:
        return []
    if await seats.other_open_seats(connection, seat["slot_id"], seat["id"]):
        await seats.set_seat(connection, seat["id"], states.SEAT_DONE, outcome)
        return []
    await seats.set_seat(connection, seat["id"], states.SEAT_RETURNING, outcome, policy.lease_seconds)
    return [ReturnSlot(seat["id"], seat["slot_id"])]


def free_seat(seat: asyncpg.Record) -> FreeSeat:
    return FreeSeat(seat["slot_id"], seat["service_id"], seat["provider_id"], seat["starts_at"])


def _offer_values(
    policy: Policy, seat: asyncpg.Record, entry: asyncpg.Record, predecessor: asyncpg.Record | None
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(), "seat_id": seat["id"], "slot_id": seat["slot_id"], "entry_id": entry["id"],
        "client_id": entry["client_id"], "ttl_seconds": policy.offer_ttl_seconds,
        "client_email": entry["client_email"], "client_name": entry["client_name"],
        "predecessor_id": predecessor["id"] if predecessor is not None else None,
        "lease_seconds": policy.lease_seconds,
    }

