"""The catalog: clinics, services and providers, with soft deletes that keep history.

A deleted row stays in its table (appointments and analytics still point at it) but reads as "no such resource".
Deletes that would strand live bookings are refused. A delete row-locks what it retires before it looks for what
depends on it, and creators row-lock what they attach to, so a concurrent create cannot slip past a delete.
Reads and one-statement writes run without a transaction, as single statements do.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TypeVar

from booking.domain.catalog import Clinic, NewProvider, NewService, Page, PageRequest, Provider, Service
from booking.domain.errors import BookingError, ConflictingAppointments, NotFound
from booking.domain.events import schedule_changes_of_retired
from booking.service_layer.schedules import schedule_changed
from booking.service_layer.unit_of_work import UnitOfWork

Changes = Mapping[str, object]  # validated field names to their new values
ItemT = TypeVar("ItemT")


def _found(item: ItemT | None, kind: str) -> ItemT:
    if item is None:
        raise NotFound(f"No such {kind}.")
    return item


def _refuse_live_appointments(appointment_ids: list[uuid.UUID]) -> None:
    if appointment_ids:
        raise ConflictingAppointments(
            "Future appointments are still booked here; cancel them first.",
            appointment_ids=[str(appointment_id) for appointment_id in appointment_ids],
        )


# --- clinics --------------------------------------------------------------------------------------------------------


async def create_clinic(uow: UnitOfWork, name: str, timezone: str, address: str | None) -> Clinic:
    """A new clinic."""
    return await uow.run(lambda uow: uow.catalog.add_clinic(name, timezone, address), transaction=False)


async def list_clinics(uow: UnitOfWork, page: PageRequest) -> Page[Clinic]:
    """Live clinics by name."""
    return await uow.run(lambda uow: uow.catalog.clinics(page), transaction=False)


async def get_clinic(uow: UnitOfWork, clinic_id: uuid.UUID) -> Clinic:
    """A live clinic, or `404`."""
    return _found(await uow.run(lambda uow: uow.catalog.clinic(clinic_id), transaction=False), "clinic")


async def update_clinic(uow: UnitOfWork, clinic_id: uuid.UUID, changes: Changes) -> Clinic:
    """Change name, time zone or address; providers keep their own zone (it was copied when they were created)."""
    clinic = await uow.run(lambda uow: uow.catalog.update_clinic(clinic_id, changes), transaction=False)
    return _found(clinic, "clinic")


async def delete_clinic(uow: UnitOfWork, clinic_id: uuid.UUID) -> None:
    """Soft-delete a clinic that has no live provider left (`409 conflict` otherwise)."""

    async def work(uow: UnitOfWork) -> None:
        if not await uow.catalog.lock_clinic(clinic_id):
            raise NotFound("No such clinic.")
        if providers := await uow.catalog.count_live_providers(clinic_id):
            raise BookingError(f"The clinic still has {providers} provider(s); delete or move them first.")
        await uow.catalog.retire_clinic(clinic_id)

    await uow.run(work)


# --- services -------------------------------------------------------------------------------------------------------


async def create_service(uow: UnitOfWork, service: NewService) -> Service:
    """A new service with its cancellation policy."""
    return await uow.run(lambda uow: uow.catalog.add_service(service), transaction=False)


async def list_services(uow: UnitOfWork, page: PageRequest) -> Page[Service]:
    """Live services by name."""
    return await uow.run(lambda uow: uow.catalog.services(page), transaction=False)


async def get_service(uow: UnitOfWork, service_id: uuid.UUID) -> Service:
    """A live service, or `404`."""
    return _found(await uow.run(lambda uow: uow.catalog.service(service_id), transaction=False), "service")


async def update_service(uow: UnitOfWork, service_id: uuid.UUID, changes: Changes) -> Service:
    """Change the service's terms; existing slots and appointments keep theirs, new slots use the new duration."""
    service = await uow.run(lambda uow: uow.catalog.update_service(service_id, changes), transaction=False)
    return _found(service, "service")


async def delete_service(uow: UnitOfWork, service_id: uuid.UUID) -> None:
    """Soft-delete a service with no future live appointment; its future open slots and weekly rules go with it."""

    async def work(uow: UnitOfWork) -> None:
        if not await uow.catalog.lock_service(service_id):
            raise NotFound("No such service.")
        retired = await uow.catalog.retire_future_slots("service_id", service_id)
        _refuse_live_appointments(await uow.catalog.future_live_appointments("service_id", service_id))
        await uow.catalog.retire_service(service_id)
        uow.record(*map(schedule_changed, schedule_changes_of_retired(retired, "service_deleted")))

    await uow.run(work)


# --- providers ------------------------------------------------------------------------------------------------------


async def create_provider(uow: UnitOfWork, new: NewProvider) -> Provider:
    """A provider at a clinic offering the given services; the zone defaults to the clinic's."""

    async def work(uow: UnitOfWork) -> Provider:
        clinic_zone = await uow.catalog.lock_clinic_shared(new.clinic_id)
        if clinic_zone is None:
            raise NotFound("No such clinic.")
        if await uow.catalog.lock_services_shared(new.service_ids) != len(set(new.service_ids)):
            raise NotFound("One of the services does not exist.")
        provider = await uow.catalog.add_provider(new, new.timezone or clinic_zone)
        if provider is None:
            raise BookingError("This user is already a provider.")
        return provider

    return await uow.run(work)


async def list_providers(
    uow: UnitOfWork, page: PageRequest, service_id: uuid.UUID | None = None, clinic_id: uuid.UUID | None = None
) -> Page[Provider]:
    """Live providers by display name, each with the services it offers; optionally of one clinic or service."""
    return await uow.run(lambda uow: uow.catalog.providers(page, service_id, clinic_id), transaction=False)


async def get_provider(uow: UnitOfWork, provider_id: uuid.UUID) -> Provider:
    """A live provider with the services it offers, or `404`."""
    return _found(await uow.run(lambda uow: uow.catalog.provider(provider_id), transaction=False), "provider")


async def delete_provider(uow: UnitOfWork, provider_id: uuid.UUID) -> None:
    """Soft-delete a provider with no future live appointment; its future open slots are marked deleted."""

    async def work(uow: UnitOfWork) -> None:
        if not await uow.catalog.lock_provider(provider_id):
            raise NotFound("No such provider.")
        retired = await uow.catalog.retire_future_slots("provider_id", provider_id)
        _refuse_live_appointments(await uow.catalog.future_live_appointments("provider_id", provider_id))
        await uow.catalog.retire_provider(provider_id)
        uow.record(*map(schedule_changed, schedule_changes_of_retired(retired, "provider_deleted")))

    await uow.run(work)
