"""The `notifier.appointment_versions` table: the newest calendar sequence seen for each appointment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from smartslot_common.db import Connection


@dataclass(frozen=True)
class Advance:
    """Whether the event is the newest seen for its appointment, and the status the notifier knew before."""

    newest: bool
    previous_status: str | None


async def advance(connection: Connection, appointment_id: uuid.UUID, sequence: int, status: str) -> Advance:
    """Record this version unless a newer one already arrived (then the event is stale and changes nothing)."""
    # Events of one appointment are handled concurrently; this lock (held to commit) orders them.
    await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text, 7))", appointment_id)
    previous = await connection.fetchrow(
        "SELECT ics_sequence, status FROM appointment_versions WHERE appointment_id = $1", appointment_id
    )
    if previous is not None and previous["ics_sequence"] >= sequence:
        return Advance(False, previous["status"])
    await connection.execute(
        "INSERT INTO appointment_versions (appointment_id, ics_sequence, status) VALUES ($1, $2, $3) "
        "ON CONFLICT (appointment_id) DO UPDATE SET ics_sequence = EXCLUDED.ics_sequence, status = EXCLUDED.status, "
        "updated_at = now()",
        appointment_id, sequence, status,
    )
    return Advance(True, previous["status"] if previous else None)
