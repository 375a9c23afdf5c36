"""A seat at a service's start time: the named provider's slot, or a provider chosen for the client (seed 003).

With no provider named, the candidates are the live providers offering the service with an open slot starting
exactly then, ranked by `domain.assignment`. They are claimed in turn within the same request: one lost to another
client (its lock taken, its compare-and-set lost) moves on to the next. The choice and its reason are stored on the
appointment, and the round-robin cursor advances in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from booking import metrics
from booking.adapters import repository as repo
from booking.adapters.slot_lock import SlotLock
from booking.domain.assignment import Candidate, explain, rank
from booking.domain.errors import NoProviderAvailable, SlotHeld, SlotInPast, SlotNotFound, SlotUnavailable
from booking.service_layer import holds
from booking.service_layer.holds import BookNow, HoldPolicy, OnCommit, PlaceHold
from smartslot_common.db import Connection, fetch_optional

LOST_CLAIM = (SlotHeld, SlotUnavailable, SlotNotFound)  # taken or gone meanwhile: the next candidate may do

# Booked minutes count confirmed and live held appointments on the provider's local day of the start; the ±2 day
# window only lets the index narrow the rows (local days span at most 26 hours of UTC).
CANDIDATES = """
SELECT s.id AS slot_id, s.provider_id, c.last_assigned_at,
       (s.starts_at AT TIME ZONE p.timezone)::date AS local_day,
       (SELECT (coalesce(sum(extract(epoch FROM a.ends_at - a.starts_at)), 0) / 60)::int FROM appointments a
         WHERE a.provider_id = s.provider_id
           AND a.starts_at > $2::timestamptz - interval '2 days' AND a.starts_at < $2::timestamptz + interval '2 days'
           AND (a.starts_at AT TIME ZONE p.timezone)::date = (s.starts_at AT TIME ZONE p.timezone)::date
           AND (a.status = 'confirmed' OR (a.status = 'locked' AND a.hold_expires_at > clock_timestamp()))
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
        WHERE o.slot_id = s.id AND o.status = 'locked' AND o.hold_expires_at <= clock_timestamp()))
"""


@dataclass(frozen=True)
class ClaimAt:
    """A client asks for a seat of a service at a start time, naming the provider or leaving the choice to us."""

    service_id: uuid.UUID
    starts_at: datetime
    client_id: uuid.UUID
    provider_id: uuid.UUID | None = None
    instant: bool = False
    client_email: str | None = None
    client_name: str | None = None

    def command(self, slot_id: uuid.UUID, assignment: str = "chosen", reason: str | None = None) -> PlaceHold:
        """The claim on one slot this request turns into."""
        kind = BookNow if self.instant else PlaceHold
        return kind(slot_id, self.client_id, assignment=assignment, assignment_reason=reason,
                    client_email=self.client_email, client_name=self.client_name)


async def claim_at(
    pool: asyncpg.Pool, lock: SlotLock | None, policy: HoldPolicy, request: ClaimAt, on_commit: OnCommit | None = None
) -> asyncpg.Record:
    """Hold (or book) the named provider's slot at that start, or auto-assign a provider with one."""
    if request.provider_id is None:
        return await _auto_assign(pool, lock, policy, request, on_commit)
    slot_id = await _named_slot(pool, request)
    return await holds.place_hold(pool, lock, policy, request.command(slot_id), on_commit)


async def _named_slot(pool: asyncpg.Pool, request: ClaimAt) -> uuid.UUID:
    slot_id = await fetch_optional(
        pool, uuid.UUID,
        "SELECT id FROM slots WHERE provider_id = $1 AND service_id = $2 AND starts_at = $3 AND status <> 'deleted'",
        request.provider_id, request.service_id, request.starts_at,
    )
    if slot_id is None:
        raise SlotNotFound("The provider has no slot of this service at that time.")
    return slot_id


async def _auto_assign(
    pool: asyncpg.Pool, lock: SlotLock | None, policy: HoldPolicy, request: ClaimAt, on_commit: OnCommit | None
) -> asyncpg.Record:
    ranked = rank(await candidates(pool, request.service_id, request.starts_at))
    for index, candidate in enumerate(ranked):
        command = request.command(candidate.slot_id, "auto", explain(ranked, index))
        try:
            appointment = await holds.place_hold(pool, lock, policy, command, _advancing_round_robin(on_commit))
        except LOST_CLAIM:
            metrics.LOST_CLAIMS.inc()
            continue
        metrics.AUTO_ASSIGNMENTS.labels(outcome="assigned").inc()
        return appointment
    metrics.AUTO_ASSIGNMENTS.labels(outcome="none").inc()
    raise NoProviderAvailable("No provider is available at that time.")


async def candidates(pool: asyncpg.Pool, service_id: uuid.UUID, starts_at: datetime) -> list[Candidate]:
    """Providers offering the service with an open slot starting exactly then; `slot_in_past` once it started."""
    async with pool.acquire() as connection:
        if starts_at <= await repo.database_now(connection):
            raise SlotInPast("That time has already started.")
        rows = await connection.fetch(CANDIDATES, service_id, starts_at)
    return [Candidate(**dict(row)) for row in rows]


def _advancing_round_robin(on_commit: OnCommit | None) -> OnCommit:
    """Record the assignment on the service's round-robin cursor, in the booking's own transaction."""

    async def record(connection: Connection, appointment: asyncpg.Record) -> None:
        await connection.execute(
            "INSERT INTO assignment_cursor (service_id, provider_id, last_assigned_at) "
            "VALUES ($1, $2, clock_timestamp()) ON CONFLICT (service_id, provider_id) "
            "DO UPDATE SET last_assigned_at = EXCLUDED.last_assigned_at",
            appointment["service_id"], appointment["provider_id"],
        )
        if on_commit is not None:
            await on_commit(connection, appointment)

    return record
