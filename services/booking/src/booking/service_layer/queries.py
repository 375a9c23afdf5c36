"""Reading appointments: who sees which, keyset pages ordered by start then id, and calendar entries.

A client sees their own appointments, a provider their own calendar, an admin everything; an appointment the caller
may not see reads as "no such appointment". Every read is a plain read on one pooled connection, outside any
transaction.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime

import orjson

from booking.adapters.appointment_views import AppointmentListing
from booking.adapters.ics import CalendarEntry
from booking.domain.appointment import Appointment
from booking.domain.errors import NotFound
from booking.service_layer import access
from booking.service_layer.unit_of_work import UnitOfWork
from smartslot_common.http.identity import Caller

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the last item's start and id. Opaque to clients (URL-safe base64 of JSON)."""

    starts_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        """The cursor as clients see it."""
        return base64.urlsafe_b64encode(orjson.dumps([self.starts_at.isoformat(), str(self.id)])).decode()

    @classmethod
    def decode(cls, raw: str) -> Cursor:
        """A cursor this service handed out; `ValueError` for anything else."""
        try:
            starts_at, id_ = orjson.loads(base64.urlsafe_b64decode(raw.encode()))
            cursor = cls(datetime.fromisoformat(starts_at), uuid.UUID(id_))
        except (binascii.Error, orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
            raise ValueError("not a cursor this service issued") from None
        if cursor.starts_at.utcoffset() is None:
            raise ValueError("not a cursor this service issued")
        return cursor


@dataclass(frozen=True)
class AppointmentFilter:
    """What a list asks for: a status, a start range [starts_from, starts_to), a page size and where to resume."""

    status: str | None = None
    starts_from: datetime | None = None
    starts_to: datetime | None = None
    limit: int = DEFAULT_LIMIT
    after: Cursor | None = None


@dataclass(frozen=True)
class AppointmentPage:
    """One page of appointments, and the cursor to continue after (None on the last page)."""

    items: list[Appointment]
    next_cursor: str | None


async def _listing(uow: UnitOfWork, who: Caller, wanted: AppointmentFilter) -> AppointmentListing | None:
    """What the caller may see of what they asked for (one more than the page, to tell whether another follows);
    None when they may see nothing at all."""
    after = (wanted.after.starts_at, wanted.after.id) if wanted.after else None
    listing = AppointmentListing(wanted.limit + 1, status=wanted.status, starts_from=wanted.starts_from,
                                 starts_to=wanted.starts_to, after=after)
    if who.is_admin:
        return listing
    if who.role == "client":
        return dataclasses.replace(listing, client_id=who.user_id)
    provider_id = await access.provider_of_user(uow.catalog, who.user_id) if who.role == "provider" else None
    return None if provider_id is None else dataclasses.replace(listing, provider_id=provider_id)


async def list_appointments(uow: UnitOfWork, who: Caller, wanted: AppointmentFilter) -> AppointmentPage:
    """One page of the appointments the caller may see."""

    async def work(uow: UnitOfWork) -> AppointmentPage:
        listing = await _listing(uow, who, wanted)
        found = await uow.views.listing(listing) if listing is not None else []
        page, more = found[: wanted.limit], len(found) > wanted.limit
        return AppointmentPage(page, Cursor(page[-1].starts_at, page[-1].id).encode() if more else None)

    return await uow.run(work, transaction=False)


async def get_appointment(uow: UnitOfWork, who: Caller, appointment_id: uuid.UUID) -> Appointment:
    """The appointment, for its client, its provider or an admin; `404` for anyone else."""

    async def work(uow: UnitOfWork) -> Appointment:
        appointment = await uow.appointments.get(appointment_id)
        if appointment is None or not await access.may_see_appointment(uow.catalog, who, appointment):
            raise NotFound("No such appointment.")
        return appointment

    return await uow.run(work, transaction=False)


async def calendar_entry(uow: UnitOfWork, who: Caller, appointment_id: uuid.UUID) -> CalendarEntry:
    """What the appointment's invitation shows, for its client or its provider (not an admin); `404` for anyone
    else."""

    async def work(uow: UnitOfWork) -> CalendarEntry:
        view = await uow.views.calendar_view(appointment_id)
        if view is None or who.is_admin or not await access.may_see_appointment(uow.catalog, who, view):
            raise NotFound("No such appointment.")
        return view.entry

    return await uow.run(work, transaction=False)
