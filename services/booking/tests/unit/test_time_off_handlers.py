"""Time off on the in-memory unit of work: the provider's open slots inside are blocked (one `slot.blocked` each),
booked appointments inside refuse it (nothing written) unless the caller asks to cancel them, fee-free and without
announcing a seat nobody can take; the cancelled holds' slot locks go after the commit."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from booking.domain.catalog import Provider
from booking.domain.errors import ConflictingAppointments, InvalidSchedule, NotFound
from booking.service_layer.time_off import AddTimeOff, add_time_off
from smartslot_common.contracts.events import APPOINTMENT_CANCELLED, SLOT_BLOCKED, SLOT_RELEASED
from smartslot_common.http.identity import Caller

from .fakes import FakeUnitOfWork
from .lock_fakes import RecordingLock

ADMIN = Caller(uuid.uuid4(), "admin")


def provider_in(uow: FakeUnitOfWork) -> Provider:
    provider = Provider(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "Dr Who", "Europe/Paris", uow.store.now, [])
    uow.store.catalog.providers[provider.id] = provider
    return provider


def away(uow: FakeUnitOfWork, provider: Provider, days: int = 2, cancel: bool = False) -> AddTimeOff:
    return AddTimeOff(provider.id, uow.store.now, uow.store.now + timedelta(days=days), "conference", cancel)


async def test_the_open_slots_inside_are_blocked_and_those_outside_kept() -> None:
    uow = FakeUnitOfWork()
    provider = provider_in(uow)
    inside = uow.store.add_slot(provider_id=provider.id)
    outside = uow.store.add_slot(starts_in=timedelta(days=5), provider_id=provider.id)

    added = await add_time_off(uow, None, ADMIN, away(uow, provider))

    assert added.blocked_slot_ids == [inside.id]
    assert added.cancelled_appointment_ids == []
    assert (uow.store.slots[inside.id].status, uow.store.slots[outside.id].status) == ("blocked", "open")
    [blocked] = uow.store.events(SLOT_BLOCKED)
    assert (blocked.payload["reason"], blocked.payload["time_off_id"]) == ("time_off", str(added.id))
    assert [record.reason for record in uow.store.time_off] == ["conference"]


async def test_booked_appointments_inside_refuse_it_and_nothing_is_written() -> None:
    uow = FakeUnitOfWork()
    provider = provider_in(uow)
    slot = uow.store.add_slot(provider_id=provider.id)
    booked = uow.store.add_appointment(slot, status="confirmed")

    with pytest.raises(ConflictingAppointments) as refused:
        await add_time_off(uow, None, ADMIN, away(uow, provider))

    assert refused.value.extra["appointment_ids"] == [str(booked.id)]
    assert uow.store.slots[slot.id].status == "open"
    assert uow.store.time_off == []
    assert uow.store.events() == []


async def test_asked_to_cancel_them_it_does_so_fee_free_without_announcing_the_seats() -> None:
    uow, lock = FakeUnitOfWork(), RecordingLock()
    provider = provider_in(uow)
    slot = uow.store.add_slot(provider_id=provider.id, capacity=2)
    booked = uow.store.add_appointment(slot, status="confirmed")
    hold = uow.store.add_appointment(slot, lock_token="hold-token")

    added = await add_time_off(uow, lock, ADMIN, away(uow, provider, cancel=True))

    assert sorted(added.cancelled_appointment_ids) == sorted([booked.id, hold.id])
    assert {uow.store.appointments[a].status for a in (booked.id, hold.id)} == {"cancelled"}
    assert {uow.store.appointments[a].fee_cents for a in (booked.id, hold.id)} == {0}
    assert uow.store.events(SLOT_RELEASED) == [], "a seat inside a time off is nobody's to take"
    assert len(uow.store.events(APPOINTMENT_CANCELLED)) == 2
    assert uow.store.slots[slot.id].status == "blocked"
    assert lock.released == [(slot.id, "hold-token")]


async def test_a_time_off_in_the_past_is_refused() -> None:
    uow = FakeUnitOfWork()
    provider = provider_in(uow)
    command = AddTimeOff(provider.id, uow.store.now - timedelta(days=2), uow.store.now - timedelta(days=1), "late")
    with pytest.raises(InvalidSchedule):
        await add_time_off(uow, None, ADMIN, command)


async def test_only_the_provider_themself_or_an_admin_may_add_it() -> None:
    uow = FakeUnitOfWork()
    provider = provider_in(uow)
    with pytest.raises(NotFound):
        await add_time_off(uow, None, Caller(uuid.uuid4(), "provider"), away(uow, provider))
    added = await add_time_off(uow, None, Caller(provider.user_id, "provider"), away(uow, provider))
    assert added.provider_id == provider.id
