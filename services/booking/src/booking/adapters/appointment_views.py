"""Reading appointments for the API (the read side): keyset pages ordered by start then id, and what a calendar
invitation shows. Plain reads, outside any transaction."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from booking.adapters.ics import CalendarEntry
from booking.adapters.repository import APPOINTMENT_COLUMNS
from booking.domain.appointment import Appointment
from smartslot_common.db import Connection

CALENDAR_ENTRY = """
SELECT a.id, a.status, a.starts_at, a.ends_at, a.ics_sequence, s.name AS service_name, p.display_name,
       c.name AS clinic_name, c.address, a.updated_at, a.client_id, a.provider_id
FROM appointments a JOIN services s ON s.id = a.service_id JOIN providers p ON p.id = a.provider_id
JOIN clinics c ON c.id = p.clinic_id WHERE a.id = $1
"""


@dataclass(frozen=True)
class AppointmentListing:
    """Which appointments a list asks for: whose (one client's, one provider's, or with neither everyone's), a status,
    a start range [starts_from, starts_to), the (start, id) to resume after, and at most how many."""

    limit: int
    client_id: uuid.UUID | None = None
    provider_id: uuid.UUID | None = None
    status: str | None = None
    starts_from: datetime | None = None
    starts_to: datetime | None = None
    after: tuple[datetime, uuid.UUID] | None = None


@dataclass(frozen=True)
class CalendarView:
    """An appointment's invitation and whose appointment it is."""

    entry: CalendarEntry
    client_id: uuid.UUID
    provider_id: uuid.UUID


class AppointmentViews(ABC):
    """The appointments the API lists and shows."""

    @abstractmethod
    async def listing(self, wanted: AppointmentListing) -> list[Appointment]:
        """The appointments `wanted` names, by start then id, at most `wanted.limit`."""

    @abstractmethod
    async def calendar_view(self, appointment_id: uuid.UUID) -> CalendarView | None:
        """The appointment's invitation, with its service, provider and clinic names."""


class _Where:
    """SQL conditions with their positional parameters, added one by one."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, template: str, value: Any) -> None:
        """`template` with one `{}` per value of the tuple `value` (or for `value` itself), as `$n` placeholders."""
        values = value if isinstance(value, tuple) else (value,)
        start = len(self.params) + 1
        self.params.extend(values)
        self.clauses.append(template.format(*(f"${n}" for n in range(start, start + len(values)))))

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses) or "true"


def _where(wanted: AppointmentListing) -> _Where:
    where = _Where()
    conditions = (
        ("client_id = {}", wanted.client_id), ("provider_id = {}", wanted.provider_id),
        ("status = {}", wanted.status), ("starts_at >= {}", wanted.starts_from), ("starts_at < {}", wanted.starts_to),
        ("(starts_at, id) > ({}, {})", wanted.after),
    )
    for template, value in conditions:
        if value is not None:
            where.add(template, value)
    return where


class PostgresAppointmentViews(AppointmentViews):
    """The read side on a pooled connection."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def listing(self, wanted: AppointmentListing) -> list[Appointment]:
        where = _where(wanted)
        rows = await self._connection.fetch(
            f"SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE {where.sql} "
            f"ORDER BY starts_at, id LIMIT {int(wanted.limit)}",
            *where.params,
        )
        return [Appointment(*row) for row in rows]

    async def calendar_view(self, appointment_id: uuid.UUID) -> CalendarView | None:
        row = await self._connection.fetchrow(CALENDAR_ENTRY, appointment_id)
        if row is None:
            return None
        return CalendarView(CalendarEntry(*tuple(row)[:10]), row["client_id"], row["provider_id"])
