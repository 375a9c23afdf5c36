"""Open slots near a time: what a conflict suggests instead (a hint, read outside any transaction)."""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class OpenSlot:
    """A slot with a seat left, as a suggestion names it."""

    slot_id: uuid.UUID
    provider_id: uuid.UUID
    service_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    remaining: int


# What a failed lookup raises: suggestions are a hint, so their caller answers without them.
UNAVAILABLE: tuple[type[BaseException], ...] = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


class OpenSlots(abc.ABC):
    """The port: open slots of a service nearest in time to a slot or a start time."""

    @abc.abstractmethod
    async def nearest(
        self, slot_id: uuid.UUID | None, service_id: uuid.UUID | None, provider_id: uuid.UUID | None,
        starts_at: datetime | None, limit: int,
    ) -> list[OpenSlot]:
        """Up to `limit` open slots of the service of `slot_id` (or `service_id` at `starts_at`), of one provider or
        any, nearest in time first; never the slot asked for."""


# Nearest in time, both ways, each arm an index range scan on (service_id, starts_at) that stops after LIMIT rows.
_OPEN = """
    SELECT s.id AS slot_id, s.provider_id, s.service_id, s.starts_at, s.ends_at,
           s.capacity - s.held - s.booked AS remaining
    FROM slots s JOIN providers p ON p.id = s.provider_id AND p.deleted_at IS NULL, target t
    WHERE s.service_id = t.service_id AND s.status = 'open' AND s.held + s.booked < s.capacity
      AND s.starts_at > clock_timestamp() AND (s.reserved_until IS NULL OR s.reserved_until <= clock_timestamp())
      AND ($3::uuid IS NULL OR s.provider_id = $3) AND s.id IS DISTINCT FROM $1
      AND ($1::uuid IS NOT NULL OR s.starts_at <> t.starts_at)
"""
NEAREST = f"""
WITH target AS (
    SELECT coalesce(t.service_id, $2::uuid) AS service_id, coalesce(t.starts_at, $4::timestamptz) AS starts_at
    FROM (SELECT 1) one LEFT JOIN slots t ON t.id = $1
)
SELECT c.* FROM (
    ({_OPEN} AND s.starts_at >= t.starts_at ORDER BY s.starts_at LIMIT $5)
    UNION ALL
    ({_OPEN} AND s.starts_at < t.starts_at ORDER BY s.starts_at DESC LIMIT $5)
) c, target t
ORDER BY abs(extract(epoch FROM c.starts_at - t.starts_at)), c.starts_at, c.slot_id
LIMIT $5
"""


class PostgresOpenSlots(OpenSlots):
    """Open slots read from PostgreSQL on a pooled connection."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def nearest(
        self, slot_id: uuid.UUID | None, service_id: uuid.UUID | None, provider_id: uuid.UUID | None,
        starts_at: datetime | None, limit: int,
    ) -> list[OpenSlot]:
        rows = await self._pool.fetch(NEAREST, slot_id, service_id, provider_id, starts_at, limit)
        return [OpenSlot(*row) for row in rows]
