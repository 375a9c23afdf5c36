"""Rescheduling on the in-memory unit of work: the same appointment moves to a seat of the same kind on another slot
of the same service, the old seat is freed and announced, and the slot locks go after the commit (the target's kept
only by a hold on a one-seat slot). Every refusal leaves both slots as they were."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from booking.domain.appointment import HOLD_STATUS
from booking.domain.errors import HoldExpired, InvalidTransition, NotFound, SlotHeld, SlotUnavailable
from booking.domain.slot import Slot
from booking.service_layer.reschedule import Reschedule, reschedule
from smartslot_common.contracts.events import APPOINTMENT_EXPIRED, APPOINTMENT_RESCHEDULED, SLOT_RELEASED
from smartslot_common.http.identity import Caller

from .fakes import FakeUnitOfWork
from .lock_fakes import RecordingLock

TTL = 300


def two_slots(uow: FakeUnitOfWork, capacity: int = 1) -> tuple[Slot, Slot]:
    first = uow.store.add_slot(capacity=capacity)
    second = uow.store.add_slot(starts_in=timedelta(days=2), capacity=capacity, provider_id=first.provider_id,
                                service_id=first.service_id)
    return first, second


async def test_a_hold_moves_to_a_one_seat_slot_and_keeps_the_new_slots_lock() -> None:
    uow, lock = FakeUnitOfWork(), RecordingLock()
    old, new = two_slots(uow)
    hold = uow.store.add_appointment(old, lock_token="old-token")
    client = Caller(hold.client_id, "client")

    moved = await reschedule(uow, lock, Reschedule(hold.id, new.id, client, TTL))

    assert (moved.id, moved.slot_id, moved.status, moved.starts_at) == (hold.id, new.id, HOLD_STATUS, new.starts_at)
    assert moved.lock_token == "lease-1", "a one-seat hold keeps the target's lock until confirmed"
    assert (uow.store.slots[old.id].held, uow.store.slots[new.id].held) == (0, 1)
    assert [event.type for event in uow.store.events()] == [APPOINTMENT_RESCHEDULED, SLOT_RELEASED]
    [event] = uow.store.events(APPOINTMENT_RESCHEDULED)
    assert event.payload["previous"]["slot_id"] == str(old.id)
    assert event.payload["ics_sequence"] == 1
    assert lock.released == [(old.id, "old-token")], "the old slot's lock goes, the new one is kept"


async def test_a_booking_moves_to_a_roomy_slot_and_gives_the_gate_back() -> None:
    uow, lock = FakeUnitOfWork(), RecordingLock()
    old, new = two_slots(uow, capacity=3)
    booked = uow.store.add_appointment(old, status="confirmed")

    moved = await reschedule(uow, lock, Reschedule(booked.id, new.id, Caller(booked.client_id, "client"), TTL))

    assert (moved.status, moved.lock_token) == ("confirmed", None)
    assert (uow.store.slots[old.id].booked, uow.store.slots[new.id].booked) == (0, 1)
    assert lock.released == [(new.id, "lease-1")]
    assert lock.forgotten == [old.id, new.id]


async def test_a_slot_of_another_service_is_refused_and_nothing_moves() -> None:
    uow, lock = FakeUnitOfWork(), RecordingLock()
    old = uow.store.add_slot()
    other = uow.store.add_slot(starts_in=timedelta(days=2))
    hold = uow.store.add_appointment(old)

    with pytest.raises(SlotUnavailable):
        await reschedule(uow, lock, Reschedule(hold.id, other.id, Caller(hold.client_id, "client"), TTL))

    assert uow.store.appointments[hold.id].slot_id == old.id
    assert (uow.store.slots[old.id].held, uow.store.slots[other.id].held) == (1, 0)
    assert uow.store.events() == []
    assert lock.released == [(other.id, "lease-1")], "the target's lock is given back at once"


async def test_a_full_target_is_refused() -> None:
    uow = FakeUnitOfWork()
    old, new = two_slots(uow)
    uow.store.add_appointment(new, status="confirmed")
    hold = uow.store.add_appointment(old)
    with pytest.raises(SlotUnavailable):
        await reschedule(uow, None, Reschedule(hold.id, new.id, Caller(hold.client_id, "client"), TTL))
    assert uow.store.appointments[hold.id].slot_id == old.id


async def test_a_target_held_by_someone_else_is_slot_held_before_any_work() -> None:
    uow = FakeUnitOfWork()
    old, new = two_slots(uow)
    hold = uow.store.add_appointment(old)
    with pytest.raises(SlotHeld):
        await reschedule(uow, RecordingLock(taken=True), Reschedule(hold.id, new.id, Caller(hold.client_id, "client"),
                                                                    TTL))
    assert uow.commits == 0


async def test_an_expired_hold_is_expired_then_refused_with_410() -> None:
    uow, lock = FakeUnitOfWork(), RecordingLock()
    old, new = two_slots(uow)
    hold = uow.store.add_appointment(old, hold_expires_in=timedelta(seconds=-1))

    with pytest.raises(HoldExpired):
        await reschedule(uow, lock, Reschedule(hold.id, new.id, Caller(hold.client_id, "client"), TTL))

    assert uow.store.appointments[hold.id].status == "expired"
    assert [event.type for event in uow.store.events()] == [APPOINTMENT_EXPIRED, SLOT_RELEASED]
    assert (new.id, "lease-1") in lock.released


async def test_a_started_appointment_cannot_move_and_a_stranger_cannot_either() -> None:
    uow = FakeUnitOfWork()
    started = uow.store.add_slot(starts_in=timedelta(minutes=-5))
    new = uow.store.add_slot(starts_in=timedelta(days=2), service_id=started.service_id)
    booked = uow.store.add_appointment(started, status="confirmed")
    with pytest.raises(InvalidTransition):
        await reschedule(uow, None, Reschedule(booked.id, new.id, Caller(booked.client_id, "client"), TTL))
    with pytest.raises(NotFound):
        await reschedule(uow, None, Reschedule(booked.id, new.id, Caller(uuid.uuid4(), "client"), TTL))
    assert uow.store.events() == []
