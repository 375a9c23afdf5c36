"""Claims at a start time on the in-memory unit of work: the named provider's slot, or a provider chosen by workload
then round robin, with the choice and the round-robin cursor recorded with the booking."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from booking.domain.catalog import NewProvider, NewService, Provider, Service
from booking.domain.errors import NoProviderAvailable, SlotInPast, SlotNotFound
from booking.domain.slot import Slot
from booking.service_layer import assignment, catalog
from booking.service_layer.holds import HoldPolicy

from .fakes import FakeUnitOfWork

POLICY = HoldPolicy(ttl_seconds=300, max_live_holds=10)
TOMORROW = timedelta(days=1)


async def _service(uow: FakeUnitOfWork) -> Service:
    return await catalog.create_service(uow, NewService("Checkup", 30, 5000, "EUR", {"kind": "flexible"}))


async def _provider(uow: FakeUnitOfWork, service: Service, name: str) -> Provider:
    clinic = await catalog.create_clinic(uow, "Praxis", "Europe/Berlin", None)
    return await catalog.create_provider(uow, NewProvider(uuid.uuid4(), clinic.id, name, [service.id]))


def _slot(uow: FakeUnitOfWork, provider: Provider, service: Service, starts_in: timedelta = TOMORROW) -> Slot:
    return uow.store.add_slot(starts_in=starts_in, provider_id=provider.id, service_id=service.id)


def _claim(service: Service, slot: Slot, provider: Provider | None = None) -> assignment.ClaimAt:
    return assignment.ClaimAt(service.id, slot.starts_at, uuid.uuid4(), provider.id if provider else None)


async def test_the_provider_with_the_fewest_booked_minutes_that_day_is_chosen() -> None:
    uow = FakeUnitOfWork()
    service = await _service(uow)
    busy, free = await _provider(uow, service, "Busy"), await _provider(uow, service, "Free")
    uow.store.add_appointment(_slot(uow, busy, service, TOMORROW + timedelta(hours=2)), status="confirmed")
    wanted = _slot(uow, busy, service)
    _slot(uow, free, service)

    appointment = await assignment.claim_at(uow, None, POLICY, _claim(service, wanted))

    assert (appointment.provider_id, appointment.assignment) == (free.id, "auto")
    assert uow.store.catalog.last_assigned == {(service.id, free.id): uow.store.now}


async def test_among_equally_busy_providers_the_one_chosen_least_recently_goes_first() -> None:
    uow = FakeUnitOfWork()
    service = await _service(uow)
    providers = [await _provider(uow, service, name) for name in ("A", "B")]
    chosen = []
    for day in range(2):
        slots = [_slot(uow, provider, service, TOMORROW + timedelta(days=day)) for provider in providers]
        appointment = await assignment.claim_at(uow, None, POLICY, _claim(service, slots[0]))
        chosen.append(appointment.provider_id)
        uow.store.now += timedelta(minutes=1)
    assert sorted(chosen) == sorted(p.id for p in providers)


async def test_a_full_slot_or_a_deleted_provider_is_no_candidate() -> None:
    uow = FakeUnitOfWork()
    service = await _service(uow)
    full, gone = await _provider(uow, service, "Full"), await _provider(uow, service, "Gone")
    taken = _slot(uow, full, service)
    uow.store.add_appointment(taken, status="confirmed")
    _slot(uow, gone, service)
    await catalog.delete_provider(uow, gone.id)
    with pytest.raises(NoProviderAvailable):
        await assignment.claim_at(uow, None, POLICY, _claim(service, taken))


async def test_a_named_provider_gets_its_own_slot_or_slot_not_found() -> None:
    uow = FakeUnitOfWork()
    service = await _service(uow)
    named, other = await _provider(uow, service, "Named"), await _provider(uow, service, "Other")
    slot = _slot(uow, named, service)
    appointment = await assignment.claim_at(uow, None, POLICY, _claim(service, slot, named))
    assert (appointment.slot_id, appointment.assignment) == (slot.id, "chosen")
    assert uow.store.catalog.last_assigned == {}
    with pytest.raises(SlotNotFound):
        await assignment.claim_at(uow, None, POLICY, _claim(service, slot, other))


async def test_a_time_that_has_started_is_refused() -> None:
    uow = FakeUnitOfWork()
    service = await _service(uow)
    slot = _slot(uow, await _provider(uow, service, "A"), service, -timedelta(minutes=1))
    with pytest.raises(SlotInPast):
        await assignment.claim_at(uow, None, POLICY, _claim(service, slot))
