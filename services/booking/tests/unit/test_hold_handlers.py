"""Claiming a seat on the in-memory unit of work: the one-write path (an instant booking needs no transaction, a
client's hold one for its quota), a full slot whose holds are overdue expired on the spot, the waitlist's reservation,
the quota, and which claims keep the slot lock after the commit."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from booking.domain.appointment import HOLD_STATUS
from booking.domain.errors import HoldQuota, SlotHeld, SlotUnavailable
from booking.service_layer.holds import BookNow, HoldPolicy, PlaceHold, place_hold
from smartslot_common.contracts.events import (
    APPOINTMENT_CONFIRMED,
    APPOINTMENT_EXPIRED,
    APPOINTMENT_LOCKED,
    SLOT_RELEASED,
)

from .fakes import FakeUnitOfWork
from .lock_fakes import RecordingLock

POLICY = HoldPolicy(ttl_seconds=300, max_live_holds=2)


async def test_an_instant_booking_is_one_write_without_a_transaction_or_redis_and_remembers_the_slot_full() -> None:
    uow, lock = FakeUnitOfWork(), RecordingLock()
    slot = uow.store.add_slot()

    booked = await place_hold(uow, lock, POLICY, BookNow(slot.id, uuid.uuid4()))

    assert (booked.status, booked.hold_expires_at) == ("confirmed", None)
    assert (uow.commits, uow.autocommits) == (0, 1)
    assert [(step.from_status, step.to_status) for step in uow.store.transitions] == [
        (None, HOLD_STATUS), (HOLD_STATUS, "confirmed")]
    assert [event.type for event in uow.store.events()] == [APPOINTMENT_CONFIRMED]
    assert (lock.acquired, lock.released) == ([], []), "an instant booking keeps no lock: Redis is not asked"
    assert lock.recently_refused(slot.id) == "full", "its last seat taken: the next claim is refused from memory"


async def test_an_instant_booking_that_leaves_seats_remembers_nothing() -> None:
    uow, lock = FakeUnitOfWork(), RecordingLock()
    slot = uow.store.add_slot(capacity=2)

    await place_hold(uow, lock, POLICY, BookNow(slot.id, uuid.uuid4()))

    assert lock.recently_refused(slot.id) is None
    assert (await place_hold(uow, lock, POLICY, BookNow(slot.id, uuid.uuid4()))).status == "confirmed"
    assert lock.recently_refused(slot.id) == "full"


async def test_an_instant_booking_of_a_slot_held_by_another_is_slot_held_and_remembered_held() -> None:
    uow, lock = FakeUnitOfWork(), RecordingLock()
    slot = uow.store.add_slot()
    uow.store.add_appointment(slot)  # a live hold (its lock may be in Redis: an instant booking does not ask)

    with pytest.raises(SlotHeld):
        await place_hold(uow, lock, POLICY, BookNow(slot.id, uuid.uuid4()))

    assert lock.recently_refused(slot.id) == "held"
    assert uow.store.slots[slot.id].booked == 0


async def test_a_hold_on_a_one_seat_slot_keeps_its_lock_until_its_deadline() -> None:
    uow, lock = FakeUnitOfWork(), RecordingLock()
    slot = uow.store.add_slot()

    hold = await place_hold(uow, lock, POLICY, PlaceHold(slot.id, uuid.uuid4()))

    assert hold.status == HOLD_STATUS
    assert hold.hold_expires_at == uow.store.now + timedelta(seconds=POLICY.ttl_seconds)
    assert uow.commits == 1, "a client's hold counts against their quota in a transaction"
    assert lock.extended == [(slot.id, "lease-1")]
    assert lock.released == []
    assert lock.recently_refused(slot.id) == "held"
    assert [event.type for event in uow.store.events()] == [APPOINTMENT_LOCKED]


async def test_a_full_slot_with_an_overdue_hold_expires_it_and_takes_the_seat() -> None:
    uow, lock = FakeUnitOfWork(), RecordingLock()
    slot = uow.store.add_slot()
    overdue = uow.store.add_appointment(slot, hold_expires_in=timedelta(seconds=-1))

    booked = await place_hold(uow, lock, POLICY, BookNow(slot.id, uuid.uuid4()))

    assert booked.status == "confirmed"
    assert uow.store.appointments[overdue.id].status == "expired"
    assert (uow.store.slots[slot.id].held, uow.store.slots[slot.id].booked) == (0, 1)
    assert [event.type for event in uow.store.events()] == [APPOINTMENT_EXPIRED, SLOT_RELEASED, APPOINTMENT_CONFIRMED]


async def test_a_full_slot_is_refused_and_remembered_full() -> None:
    uow, lock = FakeUnitOfWork(), RecordingLock()
    slot = uow.store.add_slot()
    uow.store.add_appointment(slot, status="confirmed")

    with pytest.raises(SlotUnavailable):
        await place_hold(uow, lock, POLICY, PlaceHold(slot.id, uuid.uuid4()))

    assert lock.recently_refused(slot.id) == "full"
    assert lock.released == [(slot.id, "lease-1")], "the gate is given back"


async def test_a_slot_reserved_for_the_waitlist_is_refused_to_the_public_not_to_the_waitlist() -> None:
    uow = FakeUnitOfWork()
    slot = uow.store.add_slot()
    uow.store.reserved_until[slot.id] = uow.store.now + timedelta(minutes=10)

    with pytest.raises(SlotUnavailable):
        await place_hold(uow, None, POLICY, PlaceHold(slot.id, uuid.uuid4()))
    offered = await place_hold(uow, None, POLICY, PlaceHold(slot.id, uuid.uuid4(), origin="waitlist", ttl_seconds=60))

    assert offered.origin == "waitlist"
    assert uow.store.transitions[-1].reason == "waitlist offer"


async def test_a_client_at_the_quota_is_refused() -> None:
    uow = FakeUnitOfWork()
    client = uuid.uuid4()
    for _ in range(POLICY.max_live_holds):
        await place_hold(uow, None, POLICY, PlaceHold(uow.store.add_slot().id, client))
    with pytest.raises(HoldQuota):
        await place_hold(uow, None, POLICY, PlaceHold(uow.store.add_slot().id, client))


async def test_one_live_seat_per_client_and_slot() -> None:
    uow = FakeUnitOfWork()
    slot = uow.store.add_slot(capacity=3)
    client = uuid.uuid4()
    await place_hold(uow, None, POLICY, PlaceHold(slot.id, client))
    with pytest.raises(SlotUnavailable):
        await place_hold(uow, None, POLICY, BookNow(slot.id, client))
    assert (uow.store.slots[slot.id].held, uow.store.slots[slot.id].booked) == (1, 0)
