"""The catalog's business rules on the in-memory unit of work: defaults, refusals that write nothing, soft deletes
that retire future slots and announce them, keyset pages."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from booking.domain.catalog import NewProvider, NewService, PageRequest, Provider
from booking.domain.errors import BookingError, ConflictingAppointments, NotFound
from booking.service_layer import catalog
from smartslot_common.contracts.events import SCHEDULE_CHANGED
from smartslot_common.contracts.payloads import ScheduleChangedPayload

from .fakes import FakeUnitOfWork

POLICY = {"kind": "flexible"}


def _service(name: str = "Checkup", minutes: int = 30) -> NewService:
    return NewService(name, minutes, 5000, "EUR", POLICY)


async def _provider(uow: FakeUnitOfWork, *services: uuid.UUID, zone: str | None = None) -> Provider:
    clinic = await catalog.create_clinic(uow, "Praxis", "Europe/Berlin", None)
    service_ids = list(services) or [(await catalog.create_service(uow, _service())).id]
    return await catalog.create_provider(uow, NewProvider(uuid.uuid4(), clinic.id, "Dr. A", service_ids, zone))


async def test_a_provider_takes_the_clinics_zone_unless_it_names_its_own() -> None:
    uow = FakeUnitOfWork()
    assert (await _provider(uow)).timezone == "Europe/Berlin"
    assert (await _provider(uow, zone="Asia/Tokyo")).timezone == "Asia/Tokyo"


async def test_a_provider_offers_each_service_once_in_the_order_given() -> None:
    uow = FakeUnitOfWork()
    one, two = [await catalog.create_service(uow, _service(name)) for name in "ab"]
    provider = await _provider(uow, two.id, one.id, two.id)
    assert provider.service_ids == [two.id, one.id]


async def test_a_user_is_a_provider_once() -> None:
    uow = FakeUnitOfWork()
    provider = await _provider(uow)
    again = NewProvider(provider.user_id, provider.clinic_id, "Dr. A again", provider.service_ids)
    with pytest.raises(BookingError, match="already a provider"):
        await catalog.create_provider(uow, again)


@pytest.mark.parametrize("missing", ["clinic", "service"])
async def test_a_provider_needs_a_live_clinic_and_live_services(missing: str) -> None:
    uow = FakeUnitOfWork()
    clinic = await catalog.create_clinic(uow, "Praxis", "Europe/Berlin", None)
    service = await catalog.create_service(uow, _service())
    new = NewProvider(uuid.uuid4(), uuid.uuid4() if missing == "clinic" else clinic.id, "Dr. A",
                      [service.id, uuid.uuid4()] if missing == "service" else [service.id])
    with pytest.raises(NotFound):
        await catalog.create_provider(uow, new)
    assert uow.store.catalog.providers == {}


async def test_a_clinic_with_a_live_provider_is_not_deleted() -> None:
    uow = FakeUnitOfWork()
    provider = await _provider(uow)
    with pytest.raises(BookingError, match="1 provider"):
        await catalog.delete_clinic(uow, provider.clinic_id)
    await catalog.delete_provider(uow, provider.id)
    await catalog.delete_clinic(uow, provider.clinic_id)
    with pytest.raises(NotFound):
        await catalog.get_clinic(uow, provider.clinic_id)


async def test_deleting_a_provider_retires_its_future_open_slots_and_announces_it_once() -> None:
    uow = FakeUnitOfWork()
    provider = await _provider(uow)
    other = (await catalog.create_service(uow, _service("Other"))).id
    service = provider.service_ids[0]
    future = [uow.store.add_slot(starts_in=timedelta(days=day), provider_id=provider.id, service_id=kind)
              for day, kind in ((1, service), (2, other), (3, service))]
    past = uow.store.add_slot(starts_in=-timedelta(days=1), provider_id=provider.id, service_id=service)

    await catalog.delete_provider(uow, provider.id)

    assert {uow.store.slots[slot.id].status for slot in future} == {"deleted"}
    assert uow.store.slots[past.id].status == "open"
    [event] = uow.store.events(SCHEDULE_CHANGED)
    assert event.payload == {"provider_id": str(provider.id), "service_ids": sorted([str(service), str(other)]),
                             "reason": "provider_deleted", "slots_created": 0, "slots_removed": 3}
    with pytest.raises(NotFound):
        await catalog.get_provider(uow, provider.id)


async def test_a_delete_that_would_strand_a_booking_names_it_and_writes_nothing() -> None:
    uow = FakeUnitOfWork()
    provider = await _provider(uow)
    service = provider.service_ids[0]
    booked = uow.store.add_appointment(
        uow.store.add_slot(provider_id=provider.id, service_id=service), status="confirmed")
    free = uow.store.add_slot(starts_in=timedelta(days=2), provider_id=provider.id, service_id=service)

    with pytest.raises(ConflictingAppointments) as refused:
        await catalog.delete_service(uow, service)

    assert refused.value.extra == {"appointment_ids": [str(booked.id)]}
    assert uow.store.slots[free.id].status == "open"
    assert (await catalog.get_service(uow, service)).id == service
    assert uow.store.events() == []


async def test_a_deleted_service_takes_its_weekly_rules_and_leaves_its_providers_offer() -> None:
    uow = FakeUnitOfWork()
    kept, gone = [await catalog.create_service(uow, _service(name)) for name in "ab"]
    provider = await _provider(uow, kept.id, gone.id)
    uow.store.add_slot(provider_id=provider.id, service_id=gone.id)

    await catalog.delete_service(uow, gone.id)

    assert (await catalog.get_provider(uow, provider.id)).service_ids == [kept.id]
    [event] = uow.store.events(SCHEDULE_CHANGED)
    payload = ScheduleChangedPayload.model_validate(event.payload)
    assert (payload.reason, payload.service_ids, payload.slots_removed) == ("service_deleted", [gone.id], 1)


async def test_pages_walk_every_live_item_once_in_name_order() -> None:
    uow = FakeUnitOfWork()
    for name in ["c", "a", "b", "a", "d"]:
        await catalog.create_service(uow, _service(name))
    gone = await catalog.create_service(uow, _service("b2"))
    await catalog.delete_service(uow, gone.id)
    seen, after = [], None
    while True:
        page = await catalog.list_services(uow, PageRequest(2, after))
        seen += [service.name for service in page.items]
        if page.last is None:
            break
        after = page.last
    assert seen == ["a", "a", "b", "c", "d"]


async def test_providers_are_listed_by_clinic_and_by_the_service_they_still_offer() -> None:
    uow = FakeUnitOfWork()
    service = await catalog.create_service(uow, _service())
    one, two = await _provider(uow, service.id), await _provider(uow)
    by_clinic = await catalog.list_providers(uow, PageRequest(10), clinic_id=two.clinic_id)
    by_service = await catalog.list_providers(uow, PageRequest(10), service_id=service.id)
    assert [p.id for p in by_clinic.items] == [two.id]
    assert [p.id for p in by_service.items] == [one.id]


async def test_an_update_changes_only_what_was_sent_and_a_deleted_row_is_not_found() -> None:
    uow = FakeUnitOfWork()
    clinic = await catalog.create_clinic(uow, "Praxis", "Europe/Berlin", "Hauptstr. 1")
    changed = await catalog.update_clinic(uow, clinic.id, {"address": None})
    assert (changed.name, changed.address) == ("Praxis", None)
    assert await catalog.update_clinic(uow, clinic.id, {}) == changed
    await catalog.delete_clinic(uow, clinic.id)
    with pytest.raises(NotFound):
        await catalog.update_clinic(uow, clinic.id, {"name": "Neu"})
