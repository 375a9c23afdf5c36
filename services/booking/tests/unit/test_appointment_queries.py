"""Reading appointments on the in-memory unit of work: who sees which, pages that resume where they ended, and the
calendar invitation for its client and its provider only."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from booking.domain.appointment import Appointment
from booking.domain.catalog import NewProvider, NewService, Provider
from booking.domain.errors import NotFound
from booking.service_layer import catalog, queries
from smartslot_common.http.identity import Caller

from .fakes import FakeUnitOfWork

ADMIN = Caller(uuid.uuid4(), "admin")


async def _provider(uow: FakeUnitOfWork) -> Provider:
    clinic = await catalog.create_clinic(uow, "Praxis", "Europe/Berlin", "Hauptstr. 1")
    service = await catalog.create_service(uow, NewService("Checkup", 30, 5000, "EUR", {"kind": "flexible"}))
    return await catalog.create_provider(uow, NewProvider(uuid.uuid4(), clinic.id, "Dr. A", [service.id]))


def _book(uow: FakeUnitOfWork, provider: Provider, client: Caller, days: int) -> Appointment:
    slot = uow.store.add_slot(starts_in=timedelta(days=days), provider_id=provider.id,
                              service_id=provider.service_ids[0])
    return uow.store.add_appointment(slot, client_id=client.user_id, status="confirmed")


async def _every_page(uow: FakeUnitOfWork, who: Caller, limit: int = 2) -> list[uuid.UUID]:
    seen: list[uuid.UUID] = []
    after = None
    while True:
        page = await queries.list_appointments(uow, who, queries.AppointmentFilter(limit=limit, after=after))
        seen += [appointment.id for appointment in page.items]
        if page.next_cursor is None:
            return seen
        after = queries.Cursor.decode(page.next_cursor)


async def test_clients_see_their_own_providers_their_calendar_and_admins_everything() -> None:
    uow = FakeUnitOfWork()
    one, other = await _provider(uow), await _provider(uow)
    ann, bob = Caller(uuid.uuid4(), "client"), Caller(uuid.uuid4(), "client")
    booked = [_book(uow, one, ann, 3), _book(uow, other, bob, 1), _book(uow, one, bob, 2)]

    assert await _every_page(uow, ann) == [booked[0].id]
    assert await _every_page(uow, Caller(one.user_id, "provider")) == [booked[2].id, booked[0].id]
    assert await _every_page(uow, ADMIN) == [booked[1].id, booked[2].id, booked[0].id]
    assert await _every_page(uow, Caller(uuid.uuid4(), "provider")) == []  # a provider user with no record


async def test_an_appointment_someone_else_may_not_see_is_not_found() -> None:
    uow = FakeUnitOfWork()
    provider = await _provider(uow)
    client = Caller(uuid.uuid4(), "client")
    appointment = _book(uow, provider, client, 1)
    for who in (client, Caller(provider.user_id, "provider"), ADMIN):
        assert (await queries.get_appointment(uow, who, appointment.id)).id == appointment.id
    with pytest.raises(NotFound):
        await queries.get_appointment(uow, Caller(uuid.uuid4(), "client"), appointment.id)
    with pytest.raises(NotFound):
        await queries.get_appointment(uow, ADMIN, uuid.uuid4())


async def test_the_invitation_is_for_the_client_and_the_provider_only() -> None:
    uow = FakeUnitOfWork()
    provider = await _provider(uow)
    client = Caller(uuid.uuid4(), "client")
    appointment = _book(uow, provider, client, 1)
    entry = await queries.calendar_entry(uow, client, appointment.id)
    assert (entry.appointment_id, entry.provider_name, entry.clinic_name, entry.address) == (
        appointment.id, "Dr. A", "Praxis", "Hauptstr. 1")
    assert await queries.calendar_entry(uow, Caller(provider.user_id, "provider"), appointment.id) == entry
    for stranger in (ADMIN, Caller(uuid.uuid4(), "client")):
        with pytest.raises(NotFound):
            await queries.calendar_entry(uow, stranger, appointment.id)
