"""Provider assignment's reads and its round-robin cursor, through asyncpg.

Booked minutes count confirmed and live held appointments on the provider's local day of the start; the ±2 day
window only lets the index narrow the rows (local days span at most 26 hours of UTC).
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from datetime import datetime

from booking.domain.appointment import CONFIRMED_STATUS, HOLD_STATUS
from booking.domain.assignment import Candidate
from smartslot_common.db import Connection, fetch_optional

CANDIDATES = f"""
SELECT s.id AS slot_id, s.provider_id, c.last_assigned_at,
       (s.starts_at AT TIME ZONE p.timezone)::date AS local_day,
       (SELECT (coalesce(sum(extract(epoch FROM a.ends_at - a.starts_at)), 0) / 60)::int FROM appointments a
         WHERE a.provider_id = s.provider_id
           AND a.starts_at > $2::timestamptz - interval '2 days' AND a.starts_at < $2::timestamptz + interval '2 days'
           AND (a.starts_at AT TIME ZONE p.timezone)::date = (s.starts_at AT TIME ZONE p.timezone)::date
           AND (a.status = '{CONFIRMED_STATUS}'
                OR (a.status = '{HOLD_STATUS}' AND a.hold_expires_at > clock_timestamp()))
       ) AS booked_minutes
FROM slots s
JOIN providers p ON p.id = s.provider_id AND p.deleted_at IS NULL
JOIN provider_services ps ON ps.provider_id = s.provider_id AND ps.service_id = s.service_id
JOIN services sv ON sv.id = s.service_id AND sv.deleted_at IS NULL
LEFT JOIN assignment_cursor c ON c.service_id = s.service_id AND c.provider_id = s.provider_id
WHERE s.service_id = $1 AND s.starts_at = $2 AND s.status = 'open'
  AND (s.reserved_until IS NULL OR s.reserved_until <= clock_timestamp())
  AND (s.held + s.booked < s.capacity OR EXISTS (
        SELECT 1 FROM appointments o
        WHERE o.slot_id = s.id AND o.status = '{HOLD_STATUS}' AND o.hold_expires_at <= clock_timestamp()))
"""


class AssignmentRepository(ABC):
    """Where a claim at a start time can go, and the round-robin cursor of each service."""

    @abstractmethod
    async def slot_at(self, provider_id: uuid.UUID, service_id: uuid.UUID, starts_at: datetime) -> uuid.UUID | None:
        """The provider's slot (not deleted) of the service starting then."""

    @abstractmethod
    async def candidates(self, service_id: uuid.UUID, starts_at: datetime) -> list[Candidate]:
        """The live providers offering the service with an open, public slot starting then that has a seat (or a
        hold past its deadline), with their booked minutes that local day and when this service last chose them."""

    @abstractmethod
    async def record_assignment(self, service_id: uuid.UUID, provider_id: uuid.UUID) -> None:
        """The service auto-assigned the provider now (the round-robin cursor)."""


class PostgresAssignmentRepository(AssignmentRepository):
    """Assignment's tables on the unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def slot_at(self, provider_id: uuid.UUID, service_id: uuid.UUID, starts_at: datetime) -> uuid.UUID | None:
        return await fetch_optional(
            self._connection, uuid.UUID,
            "SELECT id FROM slots WHERE provider_id = $1 AND service_id = $2 AND starts_at = $3 "
            "AND status <> 'deleted'",
            provider_id, service_id, starts_at,
        )

    async def candidates(self, service_id: uuid.UUID, starts_at: datetime) -> list[Candidate]:
        rows = await self._connection.fetch(CANDIDATES, service_id, starts_at)
        return [Candidate(**dict(row)) for row in rows]

    async def record_assignment(self, service_id: uuid.UUID, provider_id: uuid.UUID) -> None:
        await self._connection.execute(
            "INSERT INTO assignment_cursor (service_id, provider_id, last_assigned_at) "
            "VALUES ($1, $2, clock_timestamp()) ON CONFLICT (service_id, provider_id) "
            "DO UPDATE SET last_assigned_at = EXCLUDED.last_assigned_at",
            service_id, provider_id,
        )
