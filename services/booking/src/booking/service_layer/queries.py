"""Reading appointments: who sees which, keyset pages ordered by start then id, and calendar entries.

A client sees their own appointments, a provider their own calendar, an admin everything; an appointment the caller
may not see reads as "no such appointment".
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from booking.adapters import repository as repo
from booking.adapters.ics import CalendarEntry
from booking.domain.errors import NotFound
from booking.service_layer import access
from booking.service_layer.acting import is_its_client
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


class _Where:
    """SQL conditions with their positional parameters, added one by one."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, template: str, *values: Any) -> None:
        """`template` with one `{}` per value, each replaced by its `$n` placeholder."""
        start = len(self.params) + 1
        self.params.extend(values)
        self.clauses.append(template.format(*(f"${n}" for n in range(start, start + len(values)))))

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses) or "true"


async def _scope(pool: asyncpg.Pool, who: Caller, where: _Where) -> bool:
    """Restrict to what the caller may see; False when they may see nothing at all."""
    if who.is_admin:
        return True
    if who.role == "client":
        where.add("client_id = {}", who.user_id)
        return True
    provider_id = await access.provider_of_user(pool, who.user_id) if who.role == "provider" else None
    if provider_id is None:
        return False
    where.add("provider_id = {}", provider_id)
    return True


def _filters(where: _Where, wanted: AppointmentFilter) -> None:
    if wanted.status is not None:
        where.add("status = {}", wanted.status)
    if wanted.starts_from is not None:
        where.add("starts_at >= {}", wanted.starts_from)
    if wanted.starts_to is not None:
        where.add("starts_at < {}", wanted.starts_to)
    if wanted.after is not None:
        where.add("(starts_at, id) > ({}, {})", wanted.after.starts_at, wanted.after.id)


async def list_appointments(pool: asyncpg.Pool, who: Caller, wanted: AppointmentFilter) -> dict[str, Any]:
    """One page of the appointments the caller may see: `{"items": [...], "next_cursor": str | None}`."""
    where = _Where()
    if not await _scope(pool, who, where):
        return {"items": [], "next_cursor": None}
    _filters(where, wanted)
    rows = await pool.fetch(
        f"SELECT {repo.APPOINTMENT_COLUMNS} FROM appointments WHERE {where.sql} "
        f"ORDER BY starts_at, id LIMIT {int(wanted.limit) + 1}",
        *where.params,
    )
    page, more = rows[: wanted.limit], len(rows) > wanted.limit
    cursor = Cursor(page[-1]["starts_at"], page[-1]["id"]).encode() if more else None
    return {"items": page, "next_cursor": cursor}


async def get_appointment(pool: asyncpg.Pool, who: Caller, appointment_id: uuid.UUID) -> asyncpg.Record:
    """The appointment, for its client, its provider or an admin; `404` for anyone else."""
    row = await repo.get_appointment(pool, appointment_id)
    if row is None or not await access.may_see_appointment(pool, who, row):
        raise NotFound("No such appointment.")
    return row


async def _its_client_or_provider(pool: asyncpg.Pool, who: Caller, row: asyncpg.Record) -> bool:
    if who.role == "provider":
        provider_id: uuid.UUID = row["provider_id"]
        return await access.provider_of_user(pool, who.user_id) == provider_id
    return await is_its_client(pool, who, row)


async def calendar_entry(pool: asyncpg.Pool, who: Caller, appointment_id: uuid.UUID) -> CalendarEntry:
    """What the appointment's invitation shows, for its client or its provider; `404` for anyone else."""
    row = await pool.fetchrow(
        "SELECT a.id, a.status, a.client_id, a.provider_id, a.starts_at, a.ends_at, a.ics_sequence, a.updated_at, "
        "s.name AS service_name, p.display_name, c.name AS clinic_name, c.address "
        "FROM appointments a JOIN services s ON s.id = a.service_id JOIN providers p ON p.id = a.provider_id "
        "JOIN clinics c ON c.id = p.clinic_id WHERE a.id = $1",
        appointment_id,
    )
    if row is None or not await _its_client_or_provider(pool, who, row):
        raise NotFound("No such appointment.")
    return CalendarEntry(
        row["id"], row["status"], row["starts_at"], row["ends_at"], row["ics_sequence"], row["service_name"],
        row["display_name"], row["clinic_name"], row["address"], row["updated_at"],
    )
